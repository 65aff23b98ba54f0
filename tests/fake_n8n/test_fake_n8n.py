"""The fake answers like n8n 1.123 (and 2.x where it differs), checked over raw HTTP."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
import requests

from tests.fake_n8n import FakeN8n, sample_workflow
from tests.fake_n8n.samples import REAL_WORKFLOW_1_123


@pytest.fixture
def n8n():
    with FakeN8n() as fake:
        yield fake


@pytest.fixture
def api(n8n):
    """A requests session pointed at the fake's /api/v1 with its key."""

    class Api(requests.Session):
        def request(self, method, path, *args, **kwargs):
            return super().request(method, n8n.api_url + path, *args, **kwargs)

    with Api() as session:
        session.headers["X-N8N-API-KEY"] = n8n.api_key
        yield session


def _cursor(raw):
    return json.loads(base64.b64decode(raw))


def _walk(api, path, **params):
    """Every page of a listing as (ids, decoded next cursor)."""
    pages, cursor = [], None
    while True:
        answer = api.get(path, params={**params, **({"cursor": cursor} if cursor else {})}).json()
        cursor = answer["nextCursor"]
        pages.append(([item["id"] for item in answer["data"]], cursor and _cursor(cursor)))
        if cursor is None:
            return pages


# Auth and routing


def test_a_missing_key_and_a_bad_key_get_n8ns_two_401_bodies(n8n):
    missing = requests.get(n8n.api_url + "/workflows")
    bad = requests.get(n8n.api_url + "/workflows", headers={"X-N8N-API-KEY": "nope"})
    assert (missing.status_code, missing.json()) == (
        401,
        {"message": "'X-N8N-API-KEY' header required"},
    )
    assert (bad.status_code, bad.json()) == (401, {"message": "unauthorized"})


def test_unknown_paths_and_objects_are_404(api):
    assert (api.get("/nope").status_code, api.get("/nope").json()) == (
        404,
        {"message": "not found"},
    )
    answer = api.get("/workflows/missing")
    assert (answer.status_code, answer.json()) == (404, {"message": "Not Found"})


def test_outside_the_api_the_editor_page_is_served(n8n):
    answer = requests.get(n8n.url + "/workflow/abc")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")


def test_projects_and_variables_are_unlicensed(api):
    assert api.get("/projects").status_code == 403
    assert "feat:variables" in api.get("/variables").json()["message"]


# Pagination


def test_limit_over_250_is_a_400(api):
    answer = api.get("/workflows", params={"limit": 251})
    assert (answer.status_code, answer.json()) == (
        400,
        {"message": "request/query/limit must be <= 250"},
    )


def test_default_limit_is_100(n8n, api):
    n8n.add_workflows(101)
    answer = api.get("/workflows").json()
    assert len(answer["data"]) == 100
    assert _cursor(answer["nextCursor"]) == {"limit": 100, "offset": 100}


def test_a_bad_cursor_is_a_400(api):
    answer = api.get("/workflows", params={"cursor": "abc"})
    assert (answer.status_code, answer.json()) == (
        400,
        {"message": "An invalid cursor was provided"},
    )


def test_offset_cursors_page_without_repeats_or_an_empty_last_page(n8n, api):
    ids = set(n8n.add_workflows(7))
    pages = _walk(api, "/workflows", limit=2)
    assert [len(page) for page, _ in pages] == [2, 2, 2, 1]
    assert [c for _, c in pages] == [
        {"limit": 2, "offset": 2},
        {"limit": 2, "offset": 4},
        {"limit": 2, "offset": 6},
        None,
    ]
    seen = [i for page, _ in pages for i in page]
    assert len(seen) == len(set(seen)) and set(seen) == ids


def test_the_limit_inside_a_cursor_wins(n8n, api):
    n8n.add_workflows(6)
    first = api.get("/workflows", params={"limit": 2}).json()
    second = api.get("/workflows", params={"limit": 5, "cursor": first["nextCursor"]}).json()
    assert len(second["data"]) == 2


def test_limit_zero_returns_everything_and_a_cursor_to_the_same_page(n8n, api):
    n8n.add_workflows(5)
    first = api.get("/workflows", params={"limit": 0}).json()
    assert len(first["data"]) == 5
    assert _cursor(first["nextCursor"]) == {"limit": 0, "offset": 0}
    again = api.get("/workflows", params={"cursor": first["nextCursor"]}).json()
    assert again == first


def test_executions_page_newest_first_below_the_last_id(n8n, api):
    wid = n8n.add_workflow()["id"]
    for _ in range(5):
        n8n.add_execution(wid)
    pages = _walk(api, "/executions", limit=2)
    assert pages == [
        (["5", "4"], {"lastId": "4", "limit": 2}),
        (["3", "2"], {"lastId": "2", "limit": 2}),
        (["1"], None),
    ]


def test_twelve_hundred_workflows_list_in_five_pages(n8n, api):
    n8n.add_workflows(1200)
    pages = _walk(api, "/workflows", limit=250)
    assert [len(p) for p, _ in pages] == [250, 250, 250, 250, 200]


# Workflows


def test_list_filters_by_active_name_and_any_tag(n8n, api):
    n8n.add_workflow(name="Billing sync", tags=["prod"], active=True)
    n8n.add_workflow(name="CRM import", tags=["crm"])
    n8n.add_workflow(name="Untagged")

    def names(**params):
        return sorted(w["name"] for w in api.get("/workflows", params=params).json()["data"])

    assert names(active="true") == ["Billing sync"]
    assert names(name="sync") == ["Billing sync"]
    assert names(tags="prod,crm") == ["Billing sync", "CRM import"]
    assert api.get("/workflows", params={"active": "yes"}).status_code == 400


def test_get_returns_the_extra_fields_of_a_real_1_123(n8n, api):
    wid = n8n.add_workflow(tags=["seed"], active=True)["id"]
    got = api.get(f"/workflows/{wid}").json()
    assert set(got) == set(REAL_WORKFLOW_1_123)
    assert got["shared"][0]["project"]["type"] == "personal"
    listed = api.get("/workflows").json()["data"][0]
    assert {"description", "versionCounter"}.isdisjoint(listed)
    assert "project" not in listed["shared"][0]


def test_create_assigns_ids_and_leaves_it_inactive(api):
    body = sample_workflow()
    created = api.post("/workflows", json=body).json()
    assert re.fullmatch(r"[A-Za-z0-9]{16}", created["id"])
    assert created["versionId"] and created["active"] is False
    assert all(node.get("id") for node in created["nodes"])
    assert created["settings"] == {
        "executionOrder": "v1",
        "callerPolicy": "workflowsFromSameOwner",
        "availableInMCP": False,
    }


@pytest.mark.parametrize("field", ["id", "active", "createdAt", "updatedAt", "tags"])
def test_read_only_fields_are_rejected_by_name(api, field):
    answer = api.post("/workflows", json={**sample_workflow(), field: REAL_WORKFLOW_1_123[field]})
    assert (answer.status_code, answer.json()) == (
        400,
        {"message": f"request/body/{field} is read-only"},
    )


@pytest.mark.parametrize(
    "field",
    [
        "activeVersionId",
        "description",
        "isArchived",
        "meta",
        "pinData",
        "triggerCount",
        "versionCounter",
        "versionId",
        "homeProject",
    ],
)
def test_unknown_fields_are_additional_properties(api, field):
    answer = api.post("/workflows", json={**sample_workflow(), field: None})
    assert answer.json() == {"message": "request/body must NOT have additional properties"}


def test_the_full_get_body_is_refused_as_real_n8n_does(n8n, api):
    wid = n8n.add_workflow()["id"]
    full = api.get(f"/workflows/{wid}").json()
    answer = api.put(f"/workflows/{wid}", json=full)
    assert answer.json() == {"message": "request/body must NOT have additional properties"}


@pytest.mark.parametrize("field", ["name", "nodes", "connections", "settings"])
def test_each_required_field_is_named_when_missing(api, field):
    body = {k: v for k, v in sample_workflow().items() if k != field}
    answer = api.post("/workflows", json={**body, "extra": 1})
    assert answer.json() == {"message": f"request/body must have required property '{field}'"}


def test_only_the_first_violation_is_reported(api):
    answer = api.post("/workflows", json={**sample_workflow(), "id": "x", "active": True})
    assert answer.json() == {"message": "request/body/id is read-only"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"binaryMode": "separate"}, "request/body/settings must NOT have additional properties"),
        ({"timeSavedMode": "fixed"}, "request/body/settings must NOT have additional properties"),
        (
            {"saveManualExecutions": "DEFAULT"},
            "request/body/settings/saveManualExecutions must be boolean",
        ),
        (
            {"callerPolicy": "bogus"},
            "request/body/settings/callerPolicy must be equal to one of the allowed values: "
            "any, none, workflowsFromAList, workflowsFromSameOwner",
        ),
    ],
)
def test_settings_are_validated(api, settings, message):
    answer = api.post("/workflows", json={**sample_workflow(), "settings": settings})
    assert answer.json() == {"message": message}


def test_unknown_node_fields_are_refused(api):
    body = sample_workflow()
    body["nodes"][1]["color"] = "#fff"
    answer = api.post("/workflows", json=body)
    assert answer.json() == {"message": "request/body/nodes/1 must NOT have additional properties"}


def test_put_replaces_and_moves_version_and_updated_at(n8n, api):
    created = n8n.add_workflow(staticData={"node:Schedule Trigger": {"last": 1}})
    body = {**sample_workflow("Renamed"), "settings": {}}
    updated = api.put(f"/workflows/{created['id']}", json=body).json()
    assert updated["name"] == "Renamed"
    assert updated["versionId"] != created["versionId"]
    assert updated["updatedAt"] > created["updatedAt"]
    assert updated["staticData"] == created["staticData"]  # omitted means kept


def test_an_active_schedule_trigger_keeps_its_state_in_static_data(api):
    wid = api.post("/workflows", json=sample_workflow()).json()["id"]
    state = {"node:Schedule Trigger": {"recurrenceRules": []}}
    # Stored after the answer, which still shows the previous staticData.
    assert api.post(f"/workflows/{wid}/activate").json()["staticData"] is None
    assert api.get(f"/workflows/{wid}").json()["staticData"] == state
    api.post(f"/workflows/{wid}/deactivate")
    assert api.get(f"/workflows/{wid}").json()["staticData"] == state
    api.post(f"/workflows/{wid}/activate")
    body = {**sample_workflow(), "staticData": {"global": {"k": 1}}}
    assert api.put(f"/workflows/{wid}", json=body).json()["staticData"] == {"global": {"k": 1}}
    assert api.get(f"/workflows/{wid}").json()["staticData"] == {"global": {"k": 1}, **state}


def test_a_webhook_trigger_stores_no_state(api):
    body = sample_workflow()
    body["nodes"][0].update(type="n8n-nodes-base.webhook", typeVersion=2, parameters={"path": "p"})
    wid = api.post("/workflows", json=body).json()["id"]
    api.post(f"/workflows/{wid}/activate")
    assert api.get(f"/workflows/{wid}").json()["staticData"] is None


def test_an_unchanged_put_keeps_the_version_but_not_updated_at(n8n, api):
    created = n8n.add_workflow()
    body = {k: created[k] for k in ("name", "nodes", "connections", "settings")}
    updated = api.put(f"/workflows/{created['id']}", json=body).json()
    assert updated["versionId"] == created["versionId"]
    assert updated["updatedAt"] > created["updatedAt"]
    assert updated["versionCounter"] == created["versionCounter"] + 1


def test_delete_returns_the_workflow_then_it_is_gone(n8n, api):
    wid = n8n.add_workflow()["id"]
    assert api.delete(f"/workflows/{wid}").json()["id"] == wid
    assert api.get(f"/workflows/{wid}").status_code == 404
    assert n8n.workflow(wid) is None


def test_activation_needs_a_trigger_and_can_be_made_to_fail(n8n, api):
    body = sample_workflow("No trigger")
    body["nodes"] = body["nodes"][1:]
    no_trigger = n8n.add_workflow(body)["id"]
    answer = api.post(f"/workflows/{no_trigger}/activate")
    assert answer.status_code == 400
    assert "has no node to start the workflow" in answer.json()["message"]

    wid = n8n.add_workflow()["id"]
    n8n.fail_activation(wid, "Credential 'Slack' is missing")
    answer = api.post(f"/workflows/{wid}/activate")
    assert (answer.status_code, answer.json()) == (
        400,
        {"message": "Credential 'Slack' is missing"},
    )


def test_activate_and_deactivate_return_the_workflow(n8n, api):
    wid = n8n.add_workflow()["id"]
    activated = api.post(f"/workflows/{wid}/activate").json()
    assert activated["active"] and activated["activeVersionId"] == activated["versionId"]
    assert activated["updatedAt"] == n8n.workflow(wid)["updatedAt"]
    assert api.post(f"/workflows/{wid}/deactivate").json()["active"] is False


# Tags


def test_tags_crud_with_409_on_a_duplicate_name(api):
    created = api.post("/tags", json={"name": "prod"})
    assert created.status_code == 201
    duplicate = api.post("/tags", json={"name": "prod"})
    assert (duplicate.status_code, duplicate.json()) == (409, {"message": "Tag already exists"})
    tag_id = created.json()["id"]
    assert api.put(f"/tags/{tag_id}", json={"name": "production"}).json()["name"] == "production"
    assert api.delete(f"/tags/{tag_id}").status_code == 200
    assert api.get(f"/tags/{tag_id}").status_code == 404


@pytest.mark.parametrize("name", ["", "t" * 25])
def test_a_tag_name_out_of_1_to_24_characters_is_a_409_like_a_duplicate(api, name):
    tag_id = api.post("/tags", json={"name": "t" * 24}).json()["id"]
    for answer in (
        api.post("/tags", json={"name": name}),
        api.put(f"/tags/{tag_id}", json={"name": name}),
    ):
        assert answer.status_code == 409
        assert answer.json() == {"message": "Tag already exists"}


def test_workflow_tags_are_replaced_by_id(n8n, api):
    wid = n8n.add_workflow(tags=["old"])["id"]
    new = n8n.add_tag("new")
    assert [
        t["name"] for t in api.put(f"/workflows/{wid}/tags", json=[{"id": new["id"]}]).json()
    ] == ["new"]
    assert [t["name"] for t in api.get(f"/workflows/{wid}/tags").json()] == ["new"]
    missing = api.put(f"/workflows/{wid}/tags", json=[{"id": "nope"}])
    assert (missing.status_code, missing.json()) == (404, {"message": "Some tags not found"})


# Executions


def test_execution_status_filter_error_includes_crashed_and_rejects_unknown(n8n, api):
    wid = n8n.add_workflow()["id"]
    for status in ("success", "error", "crashed", "waiting"):
        n8n.add_execution(wid, status=status)
    statuses = [
        e["status"] for e in api.get("/executions", params={"status": "error"}).json()["data"]
    ]
    assert statuses == ["crashed", "error"]
    bogus = api.get("/executions", params={"status": "crashed"})
    assert bogus.json() == {
        "message": "request/query/status must be equal to one of the allowed values: "
        "canceled, error, running, success, waiting"
    }


def test_executions_in_flight_are_left_out_of_every_listing_but_running(n8n, api):
    """As n8n 1.123.81 does (tests/integration checks it on the real one)."""
    wid = n8n.add_workflow()["id"]
    running = n8n.add_execution(wid, status="running")["id"]
    waiting = n8n.add_execution(wid, status="waiting")["id"]
    queued = n8n.add_execution(wid, status="new")["id"]
    done = n8n.add_execution(wid, status="success")["id"]

    def listed(**params):
        return [e["id"] for e in api.get("/executions", params=params).json()["data"]]

    assert listed() == [done]
    assert listed(status="waiting") == []
    assert listed(status="running") == [running]
    assert [int(i) for i in (running, waiting, queued, done)] == [1, 2, 3, 4]
    for execution_id, status in ((running, "running"), (waiting, "waiting"), (queued, "new")):
        assert api.get(f"/executions/{execution_id}").json()["status"] == status
    n8n.finish_execution(waiting, status="error", error_message="late", error_node="HTTP")
    assert listed() == [done, waiting]
    assert listed(status="error") == [waiting]


def test_execution_detail_and_data_for_a_failure(n8n, api):
    wid = n8n.add_workflow()["id"]
    n8n.add_execution(wid, status="error", error_message="boom [line 2]", error_node="Code")
    listed = api.get("/executions").json()["data"][0]
    assert listed["finished"] is False and "createdAt" not in listed and "data" not in listed
    detail = api.get(f"/executions/{listed['id']}", params={"includeData": "true"}).json()
    assert {"createdAt", "deletedAt", "data", "workflowData", "customData"} <= set(detail)
    error = detail["data"]["resultData"]["error"]
    assert (error["message"], error["node"]["name"]) == ("boom [line 2]", "Code")
    assert api.get("/executions/abc").json() == {"message": "request/params/id must be number"}


def test_executions_filter_by_workflow_and_delete(n8n, api):
    first, second = n8n.add_workflow()["id"], n8n.add_workflow()["id"]
    n8n.add_execution(first)
    n8n.add_execution(second)
    only = api.get("/executions", params={"workflowId": second}).json()["data"]
    assert [e["workflowId"] for e in only] == [second]
    assert api.delete(f"/executions/{only[0]['id']}").status_code == 200
    assert api.get(f"/executions/{only[0]['id']}").status_code == 404


def test_execution_ids_can_be_numbers_like_older_builds():
    with FakeN8n(execution_ids_as_numbers=True) as fake:
        fake.add_execution(fake.add_workflow()["id"])
        answer = requests.get(fake.api_url + "/executions", headers={"X-N8N-API-KEY": fake.api_key})
        assert answer.json()["data"][0]["id"] == 1


# Credentials


def test_credentials_on_1x_can_be_created_but_not_listed_or_read(n8n, api):
    created = api.post(
        "/credentials", json={"name": "Slack", "type": "httpHeaderAuth", "data": {"value": "s3"}}
    ).json()
    assert "data" not in created
    for path in ("/credentials", f"/credentials/{created['id']}"):
        answer = api.get(path)
        assert (answer.status_code, answer.json()) == (405, {"message": "GET method not allowed"})
    assert api.get("/credentials/schema/httpHeaderAuth").json()["type"] == "object"
    assert api.delete(f"/credentials/{created['id']}").status_code == 200


def test_credential_data_is_checked_against_the_type_schema(n8n, api):
    def create(cred_type, data, name="Placeholder"):
        return api.post("/credentials", json={"name": name, "type": cred_type, "data": data})

    missing = create("slackApi", {})
    assert (missing.status_code, missing.json()) == (
        400,
        {"message": 'request.body.data requires property "accessToken"'},
    )
    extra = create("httpHeaderAuth", {"token": "x"})
    assert extra.json()["message"] == (
        'request.body.data is not allowed to have the additional property "token"'
    )
    # A field shown by another's value is required while that value is absent.
    assert create("smtp", {}).status_code == 400
    assert create("smtp", {"disableStartTls": False}).status_code == 200
    assert create("smtp", {"secure": True, "disableStartTls": False}).status_code == 400
    assert create("smtp", {"secure": True}).status_code == 200
    assert create("slackApi", {"accessToken": ""}, name="ab").status_code == 400
    assert create("nopeApi", {}).json() == {"message": "req.body.type is not a known type"}


def test_credentials_on_2x_list_metadata_and_test():
    with FakeN8n(version="2.x") as fake:
        cred = fake.add_credential("Slack", data={"value": "s3cr3t"})
        fake.set_credential_test_result(cred["id"], "Error", "401 from Slack")
        headers = {"X-N8N-API-KEY": fake.api_key}
        listed = requests.get(fake.api_url + "/credentials", headers=headers).json()
        assert [c["name"] for c in listed["data"]] == ["Slack"]
        assert "s3cr3t" not in json.dumps(listed)
        tested = requests.post(fake.api_url + f"/credentials/{cred['id']}/test", headers=headers)
        assert tested.json() == {"status": "Error", "message": "401 from Slack"}


def test_users_and_audit_answer(api):
    assert api.get("/users").json()["data"][0]["email"] == "owner@example.com"
    report = api.post("/audit", json={"additionalOptions": {"categories": ["credentials"]}}).json()
    assert list(report) == ["Credentials Risk Report"]


# Faults and the request log


def test_the_request_log_records_method_path_query_headers_and_body(n8n, api):
    api.post("/tags", json={"name": "x"}, params={"dry": "1"})
    [entry] = n8n.requests
    assert (entry.method, entry.api_path, entry.query) == ("POST", "/tags", {"dry": "1"})
    assert entry.headers["x-n8n-api-key"] == n8n.api_key
    assert entry.json() == {"name": "x"}
    assert n8n.writes() == [entry]
    assert n8n.requests_to("/tags", method="POST") == [entry]


def test_fail_next_answers_the_next_requests_then_recovers(api, n8n):
    n8n.fail_next(503, times=2, headers={"Retry-After": "1"})
    assert [api.get("/tags").status_code for _ in range(3)] == [503, 503, 200]


def test_fail_path_can_send_any_body_chunked(api, n8n):
    n8n.fail_path(
        r"/workflows$",
        200,
        body=b"<html>" * 10_000,
        content_type="text/html",
        times=1,
        chunked=True,
    )
    answer = api.get("/workflows")
    assert answer.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in answer.headers
    assert api.get("/workflows").headers["Content-Type"].startswith("application/json")


def test_a_truncated_listing_fails_after_k_pages(n8n, api):
    n8n.add_workflows(10)
    n8n.truncate_workflow_listing(2)
    first = api.get("/workflows", params={"limit": 3}).json()
    second = api.get("/workflows", params={"limit": 3, "cursor": first["nextCursor"]}).json()
    third = api.get("/workflows", params={"limit": 3, "cursor": second["nextCursor"]})
    assert third.status_code == 500


def test_slow_delays_answers(api, n8n):
    n8n.slow(0.3, path="/tags")
    started = time.monotonic()
    api.get("/tags")
    assert time.monotonic() - started >= 0.3


def test_down_refuses_connections_and_come_back_keeps_port_and_data(n8n, api):
    wid = n8n.add_workflow()["id"]
    port = n8n.port
    n8n.go_down()
    with pytest.raises(requests.ConnectionError):
        api.get(f"/workflows/{wid}")
    n8n.come_back()
    assert n8n.port == port
    assert api.get(f"/workflows/{wid}").status_code == 200
