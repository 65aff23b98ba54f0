"""The client against a real n8n (opt-in: N8N_URL and N8N_API_KEY, e.g. from
shared/tools/real-n8n/start.sh --seed). Everything it creates is named "n8n-ops it ..." and
deleted again."""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest
import requests

from services.n8n import (
    MAX_PAGE_SIZE,
    N8nBadRequest,
    N8nClient,
    N8nConflict,
    N8nMethodNotAllowed,
    N8nNotFound,
    N8nUnauthorized,
    transport,
)
from services.promotions.placeholders import empty_data, placeholder_name
from services.workflow_digest import exact_digest, semantic_digest
from tests.fake_n8n import sample_workflow
from tests.integration.conftest import KEY, URL

pytestmark = pytest.mark.real_n8n


@pytest.fixture
def scratch(client):
    """A workflow created for one test and deleted after it."""
    created = client.create_workflow(sample_workflow(f"n8n-ops it {uuid.uuid4().hex[:8]}"))
    yield created
    with contextlib.suppress(N8nNotFound):
        client.delete_workflow(created["id"])


def test_probe_names_the_version_family(client):
    version = client.probe_version()
    assert version.family in ("1.x", "2.x")
    if version.family == "1.x":
        with pytest.raises(N8nMethodNotAllowed):
            next(client.iter_credentials())


def test_paging_with_small_pages_visits_every_workflow_once(client, scratch):
    small = [w["id"] for page in client.iter_workflows(page_size=2) for w in page]
    whole = [w["id"] for page in client.iter_workflows(page_size=MAX_PAGE_SIZE) for w in page]
    assert len(small) == len(set(small))
    assert set(small) == set(whole)
    assert scratch["id"] in whole


def test_more_than_one_full_page_is_listed_once_each(client):
    """Pad the instance past 250 workflows, then page with the largest page size."""
    existing = sum(len(page) for page in client.iter_workflows())
    padding = [
        client.create_workflow(sample_workflow(f"n8n-ops it pad {i}"))["id"]
        for i in range(max(0, MAX_PAGE_SIZE + 5 - existing))
    ]
    try:
        pages = list(client.iter_workflows())
        ids = [w["id"] for page in pages for w in page]
        assert len(pages[0]) == MAX_PAGE_SIZE and len(pages) >= 2
        assert len(ids) == len(set(ids)) == existing + len(padding)
    finally:
        for workflow_id in padding:
            client.delete_workflow(workflow_id)


def test_filters_are_honoured_on_every_page(client, scratch):
    named = [w for page in client.iter_workflows(page_size=1, name=scratch["name"]) for w in page]
    assert [w["id"] for w in named] == [scratch["id"]]
    inactive = [
        w["active"] for page in client.iter_workflows(page_size=2, active=False) for w in page
    ]
    assert not any(inactive)


def test_a_get_body_round_trips_through_the_write_allowlist(client, scratch):
    fetched = client.get_workflow(scratch["id"])
    client.update_workflow(scratch["id"], fetched)
    again = client.get_workflow(scratch["id"])
    # Nothing changed: n8n keeps the version and only moves updatedAt.
    assert again["versionId"] == fetched["versionId"]
    assert again["updatedAt"] > fetched["updatedAt"]
    assert exact_digest(again) == exact_digest(fetched)
    assert semantic_digest(again) == semantic_digest(sample_workflow(scratch["name"]))


def test_create_assigns_id_and_stays_inactive_until_activated(client, scratch):
    assert len(scratch["id"]) == 16 and scratch["active"] is False
    assert client.activate_workflow(scratch["id"])["active"] is True
    assert client.deactivate_workflow(scratch["id"])["active"] is False


def test_activating_without_a_trigger_is_a_bad_request(client, scratch):
    body = sample_workflow(scratch["name"])
    body["nodes"] = body["nodes"][1:]
    body["connections"] = {}
    client.update_workflow(scratch["id"], body)
    with pytest.raises(N8nBadRequest, match="no node to start the workflow"):
        client.activate_workflow(scratch["id"])


def test_an_active_schedule_trigger_keeps_its_state_in_static_data(client, scratch):
    """Stored after the activate answer and kept when deactivated (the fake does the same)."""
    assert client.activate_workflow(scratch["id"])["staticData"] is None
    state = {"node:Schedule Trigger": {"recurrenceRules": []}}
    assert client.get_workflow(scratch["id"])["staticData"] == state
    client.deactivate_workflow(scratch["id"])
    assert client.get_workflow(scratch["id"])["staticData"] == state


def test_tags_create_conflict_and_set(client, scratch):
    name = f"n8n-ops it {uuid.uuid4().hex[:8]}"
    tag = client.create_tag(name)
    try:
        with pytest.raises(N8nConflict):
            client.create_tag(name)
        # A name out of 1-24 characters is refused the same way, though no tag has it.
        for refused in ("", "t" * 25):
            with pytest.raises(N8nConflict):
                client.create_tag(refused)
        client.set_workflow_tags(scratch["id"], [tag["id"]])
        assert [t["name"] for t in client.get_workflow_tags(scratch["id"])] == [name]
        assert name in {t["name"] for t in client.list_tags(page_size=1)}
    finally:
        client.request("DELETE", f"/tags/{tag['id']}")


def test_executions_are_newest_first_with_string_ids(client):
    ids = [e["id"] for page in client.iter_executions(page_size=2) for e in page]
    assert all(isinstance(i, str) for i in ids)
    assert [int(i) for i in ids] == sorted((int(i) for i in ids), reverse=True)


def test_a_failed_execution_names_its_node_and_message(client):
    failed = next((e for p in client.iter_executions(status="error") for e in p), None)
    if failed is None:
        pytest.skip("no failed execution on this instance (start.sh --seed makes one)")
    detail = client.get_execution(failed["id"], include_data=True)
    error = detail["data"]["resultData"]["error"]
    assert error["message"] and error["node"]["name"]


def test_missing_objects_and_bad_keys_are_typed(client):
    with pytest.raises(N8nNotFound):
        client.get_workflow("doesNotExist0000")
    with N8nClient(URL, "not-the-key", allow_private=True) as bad, pytest.raises(N8nUnauthorized):
        bad.probe_version()


def _webhook_workflow(name: str, path: str, wait_s: int) -> dict:
    """A webhook -> (Wait) -> No Op workflow; a Wait of ``wait_s`` keeps its executions in
    flight (running below about 65 s, waiting above)."""
    nodes = [
        {
            "name": "Webhook",
            "type": "n8n-nodes-base.webhook",
            "typeVersion": 2,
            "position": [0, 0],
            "parameters": {"path": path, "responseMode": "onReceived", "options": {}},
            "webhookId": str(uuid.uuid4()),
        },
        {
            "name": "Wait",
            "type": "n8n-nodes-base.wait",
            "typeVersion": 1.1,
            "position": [200, 0],
            "parameters": {"resume": "timeInterval", "amount": wait_s, "unit": "seconds"},
            "webhookId": str(uuid.uuid4()),
        },
    ]
    connections = {"Webhook": {"main": [[{"node": "Wait", "type": "main", "index": 0}]]}}
    return {"name": name, "nodes": nodes, "connections": connections, "settings": {}}


def test_executions_in_flight_are_left_out_of_every_listing(client):
    """Measured on 1.123.81 (the fake n8n follows it): a running execution is listed only
    with status=running, a waiting one by no listing at all, while a newer finished one is
    listed; GET by id answers both, and ids are consecutive."""
    tag = uuid.uuid4().hex[:8]
    made = {}
    try:
        for kind, wait_s in (("running", 20), ("waiting", 900), ("finished", 1)):
            path = f"n8n-ops-it-{kind}-{tag}"
            made[kind] = client.create_workflow(
                _webhook_workflow(f"n8n-ops it {kind} {tag}", path, wait_s)
            )["id"]
            client.activate_workflow(made[kind])
            requests.get(f"{URL.rstrip('/')}/webhook/{path}", timeout=30).raise_for_status()
        time.sleep(4)  # the 1 s wait is over; the others are still in flight
        ids = {}
        for kind, workflow_id in made.items():
            [execution] = [
                e
                for page in client.iter_executions(workflow_id=workflow_id, status="running")
                for e in page
            ] or [None]
            ids[kind] = execution and execution["id"]
        finished = [e for p in client.iter_executions(workflow_id=made["finished"]) for e in p]
        plain = {e["id"] for page in client.iter_executions() for e in page}
        waiting = {e["id"] for page in client.iter_executions(status="waiting") for e in page}
        assert ids["running"] is not None and ids["waiting"] is None and ids["finished"] is None
        [done] = finished
        assert done["id"] in plain and ids["running"] not in plain
        ids["waiting"] = str(int(ids["running"]) + 1)  # consecutive: created in this order
        assert int(done["id"]) == int(ids["running"]) + 2
        assert client.get_execution(ids["running"])["status"] == "running"
        assert client.get_execution(ids["waiting"])["status"] == "waiting"
        assert ids["waiting"] not in plain | waiting
    finally:
        for workflow_id in made.values():
            client.delete_workflow(workflow_id)


@pytest.mark.parametrize(
    "cred_type", ["httpHeaderAuth", "slackApi", "smtp", "postgres", "githubApi", "httpBasicAuth"]
)
def test_placeholder_data_built_from_the_type_schema_is_accepted(client, cred_type):
    schema = client.credential_schema(cred_type)
    made = client.create_credential(
        placeholder_name(f"n8n-ops it {uuid.uuid4().hex[:8]}"), cred_type, empty_data(schema)
    )
    try:
        assert made["type"] == cred_type and "data" not in made
    finally:
        client.delete_credential(made["id"])


def test_credential_data_off_the_schema_and_unknown_types_are_refused(client):
    with pytest.raises(N8nBadRequest, match=r"request\.body\.data"):
        client.create_credential("n8n-ops it refused", "httpHeaderAuth", {"token": "x"})
    with pytest.raises(N8nNotFound):
        client.credential_schema("nopeNotACredentialType")


def test_successive_calls_share_one_kept_alive_connection(client, monkeypatch):
    """n8n answers HTTP/1.1 with ``Connection: keep-alive`` and ``Keep-Alive: timeout=5``,
    so one client's successive calls travel on one connection. (The fake's werkzeug server
    closes every connection; a benchmark against it pays a connect per request.)"""
    workflow_id = next(iter(client.iter_workflows()))[0]["id"]
    opened = []
    connect = transport._CheckedConnection._new_conn

    def counted(self):
        opened.append(self.port)
        return connect(self)

    monkeypatch.setattr(transport._CheckedConnection, "_new_conn", counted)
    with N8nClient(URL, KEY, allow_private=True) as fresh:
        for _ in range(3):
            fresh.get_workflow(workflow_id)
    assert len(opened) == 1
    answer = requests.get(f"{URL}/api/v1/workflows?limit=1", headers={"X-N8N-API-KEY": KEY})
    assert answer.headers["Connection"] == "keep-alive"
    assert answer.headers["Keep-Alive"] == "timeout=5"
