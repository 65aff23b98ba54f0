"""The fake's public-API routes: each handler answers like n8n 1.123 (or 2.x where noted)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from tests.fake_n8n.credential_schemas import CREDENTIAL_SCHEMAS, check_credential_data
from tests.fake_n8n.paging import ApiError, last_id_page, offset_page
from tests.fake_n8n.store import (
    OWNER,
    UNFINISHED,
    Store,
    render_credential,
    render_execution,
)
from tests.fake_n8n.validation import validate_workflow_body

API = "/api/v1"
#: Statuses the executions list accepts as a filter; "error" also matches "crashed".
EXECUTION_STATUS_FILTERS = ("canceled", "error", "running", "success", "waiting")
LICENSE_MESSAGE = (
    "Your license does not allow for {feature}. To enable {feature}, please upgrade to a "
    "license that supports this feature."
)
#: Fields each write answer leaves out of the full GET shape, as measured on 1.123.
_WRITE_ANSWER_OMITS = {
    "create": ("tags", "shared", "activeVersion"),
    "update": ("shared", "activeVersion"),
    "activate": ("shared", "tags"),
    "deactivate": ("tags",),
    "delete": ("tags", "activeVersion"),
}

Answer = tuple[int, Any]
Handler = Callable[..., Answer]


def _rules(version: str) -> list[Rule]:
    rules = [
        Rule("/workflows", methods=["GET"], endpoint="list_workflows"),
        Rule("/workflows", methods=["POST"], endpoint="create_workflow"),
        Rule("/workflows/<wid>", methods=["GET"], endpoint="get_workflow"),
        Rule("/workflows/<wid>", methods=["PUT"], endpoint="update_workflow"),
        Rule("/workflows/<wid>", methods=["DELETE"], endpoint="delete_workflow"),
        Rule("/workflows/<wid>/activate", methods=["POST"], endpoint="activate"),
        Rule("/workflows/<wid>/deactivate", methods=["POST"], endpoint="deactivate"),
        Rule("/workflows/<wid>/tags", methods=["GET"], endpoint="get_workflow_tags"),
        Rule("/workflows/<wid>/tags", methods=["PUT"], endpoint="set_workflow_tags"),
        Rule("/tags", methods=["GET"], endpoint="list_tags"),
        Rule("/tags", methods=["POST"], endpoint="create_tag"),
        Rule("/tags/<tid>", methods=["GET"], endpoint="get_tag"),
        Rule("/tags/<tid>", methods=["PUT"], endpoint="update_tag"),
        Rule("/tags/<tid>", methods=["DELETE"], endpoint="delete_tag"),
        Rule("/executions", methods=["GET"], endpoint="list_executions"),
        Rule("/executions/<eid>", methods=["GET"], endpoint="get_execution"),
        Rule("/executions/<eid>", methods=["DELETE"], endpoint="delete_execution"),
        Rule("/credentials", methods=["POST"], endpoint="create_credential"),
        Rule("/credentials/<cid>", methods=["DELETE"], endpoint="delete_credential"),
        Rule("/credentials/schema/<ctype>", methods=["GET"], endpoint="credential_schema"),
        Rule("/users", methods=["GET"], endpoint="list_users"),
        Rule("/audit", methods=["POST"], endpoint="audit"),
        Rule("/projects", methods=["GET", "POST"], endpoint="unlicensed_projects"),
        Rule("/variables", methods=["GET", "POST"], endpoint="unlicensed_variables"),
    ]
    if version == "2.x":
        rules += [
            Rule("/credentials", methods=["GET"], endpoint="list_credentials"),
            Rule("/credentials/<cid>", methods=["GET"], endpoint="get_credential"),
            Rule("/credentials/<cid>", methods=["PATCH"], endpoint="patch_credential"),
            Rule("/credentials/<cid>/test", methods=["POST"], endpoint="test_credential"),
        ]
    return rules


class Routes:
    """Dispatches ``/api/v1`` requests to handlers over one ``Store``."""

    def __init__(self, store: Store, *, version: str, execution_ids_as_numbers: bool) -> None:
        self.store = store
        self.version = version
        self.execution_ids_as_numbers = execution_ids_as_numbers
        self._map = Map(_rules(version), strict_slashes=False)
        #: (pages that succeed, status of the next ones) for a workflow listing cut short.
        self.truncate_workflows: tuple[int, int] | None = None

    def match(self, request: Request) -> tuple[Handler, dict[str, str]]:
        """The handler for this request, or the 404/405 n8n answers before checking the key."""
        adapter = self._map.bind("fake", path_info=request.path.removeprefix(API))
        try:
            endpoint, args = adapter.match(method=request.method)
        except NotFound:
            raise ApiError(404, "not found") from None
        except MethodNotAllowed:
            raise ApiError(405, f"{request.method} method not allowed") from None
        return getattr(self, endpoint), args

    # Workflows

    def list_workflows(self, request: Request) -> Answer:
        query = request.args
        items = sorted(self.store.workflows.values(), key=lambda w: w["id"])
        if "active" in query:
            if query["active"] not in ("true", "false"):
                raise ApiError(400, "request/query/active must be boolean")
            items = [w for w in items if w["active"] == (query["active"] == "true")]
        if query.get("name"):
            needle = query["name"].lower()
            items = [w for w in items if needle in w["name"].lower()]
        if query.get("tags"):
            names = {n.strip() for n in query["tags"].split(",")}
            items = [w for w in items if names & self._tag_names(w)]
        page, cursor, number = offset_page(items, dict(query))
        if self.truncate_workflows and number >= self.truncate_workflows[0]:
            raise ApiError(self.truncate_workflows[1], "Internal Server Error")
        rendered = [self.store.render_workflow(w, full=False) for w in page]
        if query.get("excludePinnedData") == "true":
            for w in rendered:
                del w["pinData"]
        return 200, {"data": rendered, "nextCursor": cursor}

    def _tag_names(self, workflow: dict[str, Any]) -> set[str]:
        return {self.store.tags[t]["name"] for t in workflow["tagIds"] if t in self.store.tags}

    def create_workflow(self, request: Request) -> Answer:
        body = _json(request)
        validate_workflow_body(body)
        return self._workflow_answer(self.store.insert_workflow(body), "create")

    def get_workflow(self, request: Request, wid: str) -> Answer:
        return 200, self.store.render_workflow(self.store.workflow(wid), full=True)

    def update_workflow(self, request: Request, wid: str) -> Answer:
        self.store.workflow(wid)
        body = _json(request)
        validate_workflow_body(body)
        answer = self._workflow_answer(self.store.replace_workflow(wid, body), "update")
        self.store.save_trigger_state(wid)
        return answer

    def delete_workflow(self, request: Request, wid: str) -> Answer:
        answer = self._workflow_answer(self.store.workflow(wid), "delete")
        del self.store.workflows[wid]
        return answer

    def activate(self, request: Request, wid: str) -> Answer:
        answer = self._workflow_answer(self.store.set_active(wid, True), "activate")
        self.store.save_trigger_state(wid)
        return answer

    def deactivate(self, request: Request, wid: str) -> Answer:
        return self._workflow_answer(self.store.set_active(wid, False), "deactivate")

    def _workflow_answer(self, workflow: dict[str, Any], kind: str) -> Answer:
        answer = self.store.render_workflow(workflow, full=True)
        for key in _WRITE_ANSWER_OMITS[kind]:
            del answer[key]
        return 200, answer

    def get_workflow_tags(self, request: Request, wid: str) -> Answer:
        workflow = self.store.workflow(wid)
        return 200, [dict(self.store.tags[t]) for t in workflow["tagIds"] if t in self.store.tags]

    def set_workflow_tags(self, request: Request, wid: str) -> Answer:
        workflow = self.store.workflow(wid)
        body = _json(request)
        if not isinstance(body, list):
            raise ApiError(400, "request/body must be array")
        for i, item in enumerate(body):
            if not isinstance(item, dict) or "id" not in item:
                raise ApiError(400, f"request/body/{i} must have required property 'id'")
        ids = list(dict.fromkeys(item["id"] for item in body))
        if any(tag_id not in self.store.tags for tag_id in ids):
            raise ApiError(404, "Some tags not found")
        workflow["tagIds"] = ids
        return self.get_workflow_tags(request, wid)

    # Tags

    def list_tags(self, request: Request) -> Answer:
        items = sorted(self.store.tags.values(), key=lambda t: t["id"])
        page, cursor, _ = offset_page(items, dict(request.args))
        return 200, {"data": [dict(t) for t in page], "nextCursor": cursor}

    def create_tag(self, request: Request) -> Answer:
        return 201, dict(self.store.insert_tag(_tag_name(_json(request))))

    def get_tag(self, request: Request, tid: str) -> Answer:
        return 200, dict(self.store.tag(tid))

    def update_tag(self, request: Request, tid: str) -> Answer:
        tag = self.store.rename_tag(tid, _tag_name(_json(request)))
        return 200, {"id": tag["id"], "name": tag["name"], "updatedAt": tag["updatedAt"]}

    def delete_tag(self, request: Request, tid: str) -> Answer:
        tag = self.store.tag(tid)
        del self.store.tags[tid]
        for workflow in self.store.workflows.values():
            workflow["tagIds"] = [t for t in workflow["tagIds"] if t != tid]
        return 200, dict(tag)

    # Executions

    def list_executions(self, request: Request) -> Answer:
        query = request.args
        status = query.get("status")
        if status is not None and status not in EXECUTION_STATUS_FILTERS:
            allowed = ", ".join(EXECUTION_STATUS_FILTERS)
            raise ApiError(
                400, f"request/query/status must be equal to one of the allowed values: {allowed}"
            )
        include_data = _bool_query(query, "includeData")
        items = [
            e
            for _, e in sorted(self.store.executions.items(), reverse=True)
            if _listed(e["status"], status)
            and query.get("workflowId", e["workflowId"]) == e["workflowId"]
        ]
        page, cursor = last_id_page(items, dict(query))
        data = [self._execution(e, include_data=include_data, detail=False) for e in page]
        return 200, {"data": data, "nextCursor": cursor}

    def get_execution(self, request: Request, eid: str) -> Answer:
        execution = self.store.execution(eid)
        include_data = _bool_query(request.args, "includeData")
        return 200, self._execution(execution, include_data=include_data, detail=True)

    def delete_execution(self, request: Request, eid: str) -> Answer:
        execution = self.store.execution(eid)
        del self.store.executions[int(execution["id"])]
        return 200, self._execution(execution, include_data=False, detail=False)

    def _execution(self, execution: dict[str, Any], *, include_data: bool, detail: bool) -> Any:
        out = render_execution(execution, include_data=include_data, detail=detail)
        if self.execution_ids_as_numbers:
            out["id"] = int(out["id"])
        return out

    # Credentials

    def create_credential(self, request: Request) -> Answer:
        body = _json(request)
        for field in ("name", "type", "data"):
            if field not in (body if isinstance(body, dict) else {}):
                raise ApiError(400, f"request/body must have required property '{field}'")
        if body["type"] not in CREDENTIAL_SCHEMAS:
            raise ApiError(400, "req.body.type is not a known type")
        check_credential_data(body["type"], body["data"])
        # The credential entity's own check, after the schema's.
        if not 3 <= len(str(body["name"])) <= 128:
            raise ApiError(400, "Credential name must be 3 to 128 characters long.")
        credential = self.store.insert_credential(body["name"], body["type"], body["data"])
        return 200, render_credential(credential)

    def delete_credential(self, request: Request, cid: str) -> Answer:
        answer = render_credential(self.store.credential(cid))
        del self.store.credentials[cid], answer["id"]
        return 200, answer

    def credential_schema(self, request: Request, ctype: str) -> Answer:
        if ctype not in CREDENTIAL_SCHEMAS:
            raise ApiError(404, "Not Found")
        return 200, CREDENTIAL_SCHEMAS[ctype]

    def list_credentials(self, request: Request) -> Answer:
        items = sorted(self.store.credentials.values(), key=lambda c: c["id"])
        page, cursor, _ = offset_page(items, dict(request.args))
        return 200, {"data": [render_credential(c) for c in page], "nextCursor": cursor}

    def get_credential(self, request: Request, cid: str) -> Answer:
        return 200, render_credential(self.store.credential(cid))

    def patch_credential(self, request: Request, cid: str) -> Answer:
        credential = self.store.credential(cid)
        body = _json(request)
        if not isinstance(body, dict) or set(body) - {"name", "type", "data"}:
            raise ApiError(400, "request/body must NOT have additional properties")
        credential.update(body, updatedAt=self.store.clock.now())
        return 200, render_credential(credential)

    def test_credential(self, request: Request, cid: str) -> Answer:
        self.store.credential(cid)
        status, message = self.store.credential_test_results.get(cid, ("OK", "Connection tested"))
        return 200, {"status": status, "message": message}

    # Other

    def list_users(self, request: Request) -> Answer:
        page, cursor, _ = offset_page([OWNER], dict(request.args))
        return 200, {"data": page, "nextCursor": cursor}

    def audit(self, request: Request) -> Answer:
        options = (_json(request) or {}).get("additionalOptions") or {}
        categories = options.get("categories") or ["credentials", "nodes", "instance"]
        return 200, {
            f"{c.capitalize()} Risk Report": {"risk": c, "sections": []} for c in categories
        }

    def unlicensed_projects(self, request: Request) -> Answer:
        raise ApiError(403, LICENSE_MESSAGE.format(feature="feat:projectRole:admin"))

    def unlicensed_variables(self, request: Request) -> Answer:
        raise ApiError(403, LICENSE_MESSAGE.format(feature="feat:variables"))


def _listed(execution_status: str, status_filter: str | None) -> bool:
    """Whether GET /executions lists an execution, as measured on n8n 1.123.81: executions in
    flight (queued, running, waiting in a Wait node, short or long) are left out of every
    listing, except that ``status=running`` lists the running ones. Once they finish they are
    listed like any other. GET /executions/{id} always answers them."""
    if status_filter == "running":
        return execution_status == "running"
    if execution_status in UNFINISHED:
        return False
    wanted = {"error", "crashed"} if status_filter == "error" else {status_filter}
    return status_filter is None or execution_status in wanted


def _json(request: Request) -> Any:
    if request.mimetype != "application/json":
        raise ApiError(415, f"unsupported media type {request.mimetype or 'undefined'}")
    try:
        return json.loads(request.get_data() or b"null")
    except ValueError:
        raise ApiError(500, "Failed to parse request body") from None


def _bool_query(query: Any, name: str) -> bool:
    raw = query.get(name, "false")
    if raw not in ("true", "false"):
        raise ApiError(400, f"request/query/{name} must be boolean")
    return raw == "true"


def _tag_name(body: Any) -> str:
    if not isinstance(body, dict) or "name" not in body:
        raise ApiError(400, "request/body must have required property 'name'")
    if "id" in body:
        raise ApiError(400, "request/body/id is read-only")
    return str(body["name"])
