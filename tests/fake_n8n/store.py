"""The fake instance's data and the answers n8n 1.123 builds from it."""

from __future__ import annotations

import copy
import secrets
import string
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fake_n8n.paging import ApiError

_ID_ALPHABET = string.ascii_letters + string.digits

#: Node types n8n accepts as the start of an active workflow (besides any "*Trigger" type).
WEBHOOK_TYPES = frozenset({"n8n-nodes-base.webhook", "n8n-nodes-base.formTrigger"})
#: The trigger that keeps state in staticData once active (Store.save_trigger_state).
SCHEDULE_TRIGGER = "n8n-nodes-base.scheduleTrigger"
#: Settings n8n adds to every stored workflow when they are missing.
SETTINGS_ADDED = {"callerPolicy": "workflowsFromSameOwner", "availableInMCP": False}
#: Statuses whose execution has not stopped yet.
UNFINISHED = frozenset({"new", "running", "waiting"})

OWNER = {
    "id": "baf53d86-213f-4e79-bcc1-2a6e4b99461c",
    "email": "owner@example.com",
    "firstName": "Test",
    "lastName": "Owner",
    "isPending": False,
}
PROJECT = {"id": "sVq7yIJ15uDVh4P6", "name": "Test Owner <owner@example.com>", "type": "personal"}


def new_id() -> str:
    """A 16-character alphanumeric id, the shape n8n gives workflows, tags and credentials."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def is_trigger(node: dict[str, Any]) -> bool:
    node_type = str(node.get("type", ""))
    return node_type in WEBHOOK_TYPES or node_type.lower().endswith("trigger")


class Clock:
    """ISO timestamps with milliseconds that strictly increase, so every write is visible."""

    def __init__(self) -> None:
        self._last = datetime.now(UTC)

    def now(self) -> str:
        current = max(datetime.now(UTC), self._last + timedelta(milliseconds=1))
        self._last = current
        return current.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """Workflows, tags, executions, credentials; callers hold the server's lock."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.workflows: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, Any]] = {}
        self.executions: dict[int, dict[str, Any]] = {}
        self.credentials: dict[str, dict[str, Any]] = {}
        self.activation_errors: dict[str, str] = {}
        self.credential_test_results: dict[str, tuple[str, str]] = {}
        self._next_execution_id = 1

    # Workflows

    def insert_workflow(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        workflow = {
            "id": new_id(),
            "name": body["name"],
            "description": None,
            "active": False,
            "isArchived": False,
            "nodes": _with_node_ids(body["nodes"]),
            "connections": copy.deepcopy(body["connections"]),
            "settings": {**copy.deepcopy(body["settings"]), **_missing_settings(body["settings"])},
            "staticData": copy.deepcopy(body.get("staticData")),
            "meta": None,
            "pinData": None,
            "versionId": str(uuid.uuid4()),
            "activeVersionId": None,
            "versionCounter": 1,
            "triggerCount": 0,
            "createdAt": now,
            "updatedAt": now,
            "tagIds": [],
        }
        self.workflows[workflow["id"]] = workflow
        return workflow

    def replace_workflow(self, workflow_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT: updatedAt always moves; versionId only when the content changed (as 1.123)."""
        workflow = self.workflow(workflow_id)
        before = _content(workflow)
        workflow.update(
            name=body["name"],
            nodes=_with_node_ids(body["nodes"]),
            connections=copy.deepcopy(body["connections"]),
            settings={**copy.deepcopy(body["settings"]), **_missing_settings(body["settings"])},
        )
        if "staticData" in body:
            workflow["staticData"] = copy.deepcopy(body["staticData"])
        if _content(workflow) != before:
            workflow["versionId"] = str(uuid.uuid4())
        workflow["updatedAt"] = self.clock.now()
        self._recount(workflow)
        return workflow

    def set_active(self, workflow_id: str, active: bool, *, check: bool = True) -> dict[str, Any]:
        """(De)activate: neither versionId nor updatedAt moves (as 1.123)."""
        workflow = self.workflow(workflow_id)
        if active and check:
            self._check_activation(workflow)
        workflow["active"] = active
        self._recount(workflow)
        return workflow

    def save_trigger_state(self, workflow_id: str) -> None:
        """What an active workflow's Schedule Triggers store once (re)activated, as measured on
        1.123 (after the activate or PUT answer, which still shows the previous staticData):
        ``{"node:<name>": {"recurrenceRules": []}}`` merged into staticData, kept when
        deactivated. Webhook triggers store nothing."""
        workflow = self.workflow(workflow_id)
        if not workflow["active"]:
            return
        states = {
            f"node:{node['name']}": {"recurrenceRules": []}
            for node in workflow["nodes"]
            if node.get("type") == SCHEDULE_TRIGGER and not node.get("disabled")
        }
        if states:
            workflow["staticData"] = {**(workflow["staticData"] or {}), **states}

    def _check_activation(self, workflow: dict[str, Any]) -> None:
        if workflow["id"] in self.activation_errors:
            raise ApiError(400, self.activation_errors[workflow["id"]])
        if not any(is_trigger(n) and not n.get("disabled") for n in workflow["nodes"]):
            raise ApiError(
                400,
                f'Workflow "{workflow["name"]}" (ID: {workflow["id"]}) has no node to start the '
                "workflow - at least one trigger, poller or webhook node is required",
            )

    def _recount(self, workflow: dict[str, Any]) -> None:
        workflow["versionCounter"] += 1
        active = workflow["active"]
        workflow["activeVersionId"] = workflow["versionId"] if active else None
        workflow["triggerCount"] = sum(map(is_trigger, workflow["nodes"])) if active else 0

    def workflow(self, workflow_id: str) -> dict[str, Any]:
        try:
            return self.workflows[workflow_id]
        except KeyError:
            raise ApiError(404, "Not Found") from None

    def render_workflow(self, workflow: dict[str, Any], *, full: bool) -> dict[str, Any]:
        """A GET answer (``full``) or a list item (no description, counter or nested project)."""
        out = {k: copy.deepcopy(v) for k, v in workflow.items() if k != "tagIds"}
        if not full:
            del out["description"], out["versionCounter"]
        share = {"role": "workflow:owner", "workflowId": workflow["id"], "projectId": PROJECT["id"]}
        if full:
            share["project"] = dict(PROJECT)
        out["shared"] = [share]
        out["tags"] = [dict(self.tags[t]) for t in workflow["tagIds"] if t in self.tags]
        out["activeVersion"] = self._active_version(workflow)
        return out

    def _active_version(self, workflow: dict[str, Any]) -> dict[str, Any] | None:
        if not workflow["active"]:
            return None
        return {
            "versionId": workflow["versionId"],
            "workflowId": workflow["id"],
            "nodes": copy.deepcopy(workflow["nodes"]),
            "connections": copy.deepcopy(workflow["connections"]),
            "authors": f"{OWNER['firstName']} {OWNER['lastName']}",
            "name": None,
            "description": None,
        }

    # Tags

    def insert_tag(self, name: str) -> dict[str, Any]:
        self._check_tag_name(name)
        now = self.clock.now()
        tag = {"id": new_id(), "name": name, "createdAt": now, "updatedAt": now}
        self.tags[tag["id"]] = tag
        return tag

    def rename_tag(self, tag_id: str, name: str) -> dict[str, Any]:
        tag = self.tag(tag_id)
        if tag["name"] != name:
            self._check_tag_name(name)
        tag.update(name=name, updatedAt=self.clock.now())
        return tag

    def _check_tag_name(self, name: str) -> None:
        # 1.123 answers a name out of 1-24 characters like a duplicate (any failed insert is).
        if not 0 < len(name) <= 24 or any(t["name"] == name for t in self.tags.values()):
            raise ApiError(409, "Tag already exists")

    def tag(self, tag_id: str) -> dict[str, Any]:
        try:
            return self.tags[tag_id]
        except KeyError:
            raise ApiError(404, "Not Found") from None

    # Executions

    def insert_execution(self, workflow_id: str, *, status: str, **fields: Any) -> dict[str, Any]:
        execution_id = self._next_execution_id
        self._next_execution_id += 1
        now = self.clock.now()
        started = fields.pop("started_at", None) or now
        stopped = fields.pop("stopped_at", None) or now
        execution = {
            "id": str(execution_id),
            "finished": status == "success",
            "mode": fields.pop("mode", "trigger"),
            "retryOf": fields.pop("retry_of", None),
            "retrySuccessId": None,
            "status": status,
            "startedAt": None if status == "new" else started,
            "stoppedAt": None if status in UNFINISHED else stopped,
            "workflowId": workflow_id,
            "waitTill": fields.pop("wait_till", None),
            "createdAt": started,
            "deletedAt": None,
        }
        error_message, error_node = (
            fields.pop("error_message", None),
            fields.pop("error_node", None),
        )
        execution["_data"] = fields.pop("data", None) or _run_data(error_message, error_node)
        wf = self.workflows.get(workflow_id)
        execution["_workflowData"] = self.render_workflow(wf, full=False) if wf else None
        if fields:
            raise TypeError(f"Unknown execution fields: {sorted(fields)}")
        self.executions[execution_id] = execution
        return execution

    def finish_execution(
        self,
        execution_id: str,
        *,
        status: str,
        error_message: str | None = None,
        error_node: str | None = None,
    ) -> dict[str, Any]:
        execution = self.execution(execution_id)
        now = self.clock.now()
        execution.update(
            status=status,
            finished=status == "success",
            startedAt=execution["startedAt"] or now,
            stoppedAt=now,
            waitTill=None,
            _data=_run_data(error_message, error_node),
        )
        return execution

    def execution(self, raw_id: str) -> dict[str, Any]:
        if not raw_id.isdigit():
            raise ApiError(400, "request/params/id must be number")
        try:
            return self.executions[int(raw_id)]
        except KeyError:
            raise ApiError(404, "Not Found") from None

    # Credentials

    def insert_credential(self, name: str, cred_type: str, data: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        credential = {
            "id": new_id(),
            "name": name,
            "type": cred_type,
            "createdAt": now,
            "updatedAt": now,
            "isManaged": False,
            "isGlobal": False,
            "data": copy.deepcopy(data),
        }
        self.credentials[credential["id"]] = credential
        return credential

    def credential(self, credential_id: str) -> dict[str, Any]:
        try:
            return self.credentials[credential_id]
        except KeyError:
            raise ApiError(404, "Not Found") from None


def render_credential(credential: dict[str, Any]) -> dict[str, Any]:
    """Metadata only: credential data never leaves n8n."""
    return {k: v for k, v in credential.items() if k != "data"}


def render_execution(
    execution: dict[str, Any], *, include_data: bool, detail: bool
) -> dict[str, Any]:
    """A list item, or (``detail``) a GET answer with createdAt/deletedAt."""
    out = {k: v for k, v in execution.items() if not k.startswith("_")}
    if not detail:
        del out["createdAt"], out["deletedAt"]
    if include_data:
        out["data"] = copy.deepcopy(execution["_data"])
        out["workflowData"] = copy.deepcopy(execution["_workflowData"])
        out["customData"] = {}
    return out


def _with_node_ids(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": str(uuid.uuid4()), **copy.deepcopy(node)} for node in nodes]


def _content(workflow: dict[str, Any]) -> tuple[Any, ...]:
    fields = ("name", "nodes", "connections", "settings", "staticData")
    return tuple(copy.deepcopy(workflow[f]) for f in fields)


def _missing_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in SETTINGS_ADDED.items() if k not in settings}


def _run_data(error_message: str | None, error_node: str | None) -> dict[str, Any]:
    """The ``data`` of an execution: ``resultData.error`` carries the failing node and message."""
    result: dict[str, Any] = {"runData": {}, "lastNodeExecuted": error_node}
    if error_message is not None:
        result["error"] = {
            "level": "error",
            "message": error_message,
            "node": {"name": error_node, "type": "n8n-nodes-base.code"},
        }
    return {"version": 1, "startData": {}, "resultData": result, "executionData": {}}
