"""Workflow files against a real n8n (opt-in: N8N_URL and N8N_API_KEY): a workflow read back
from n8n renders, parses, and deploys over itself and as a new workflow; n8n accepts the body,
keeps the node ids and webhook ids, and runs the same workflow. Everything it creates is
named "n8n-ops it ..." and deleted again."""

from __future__ import annotations

import contextlib
import uuid

import pytest

from services.n8n import N8nNotFound
from services.workflow_digest import semantic_digest
from services.workflow_file import parse, render, to_n8n
from tests.services.workflow_samples import named, orders

pytestmark = pytest.mark.real_n8n


@pytest.fixture
def created(client):
    ids: list[str] = []
    yield ids
    for workflow_id in reversed(ids):
        with contextlib.suppress(N8nNotFound):
            client.delete_workflow(workflow_id)


def _write_body(name: str, sub_id: str) -> dict:
    """The orders workflow as a client would first create it (no ids, no credentials)."""
    body = orders()
    for n in body["nodes"]:
        n.pop("id")
        n.pop("webhookId", None)
        n.pop("credentials", None)
    named(body, "Invoice")["parameters"]["workflowId"].update(
        value=sub_id, cachedResultUrl=f"/workflow/{sub_id}"
    )
    named(body, "Legacy call")["parameters"]["workflowId"] = sub_id
    body["settings"] = {"executionOrder": "v1", "errorWorkflow": sub_id, "callerPolicy": "any"}
    return {"name": name, **{k: body[k] for k in ("nodes", "connections", "settings")}}


def test_n8n_adds_node_ids_on_write_but_no_webhook_ids(client, created):
    """Measured on 1.123.81 (n8n-api.md says POST adds webhookIds too: it does not)."""
    body = _write_body(f"n8n-ops it ids {uuid.uuid4().hex[:8]}", "noSuchWorkflow01")
    stored = client.create_workflow(body)
    created.append(stored["id"])
    assert all(n.get("id") for n in stored["nodes"])
    assert named(stored, "Webhook").get("webhookId") is None
    body["nodes"].append(
        {"name": "Wait", "type": "n8n-nodes-base.wait", "typeVersion": 1.1, "position": [0, 400]}
    )
    updated = client.update_workflow(stored["id"], {**body, "nodes": body["nodes"]})
    assert named(updated, "Wait").get("id") and named(updated, "Wait").get("webhookId") is None


def test_a_rendered_file_deploys_back_into_a_real_n8n(client, created):
    tag = uuid.uuid4().hex[:8]
    sub = client.create_workflow(
        {"name": f"n8n-ops it sub {tag}", "nodes": [], "connections": {}, "settings": {}}
    )
    created.append(sub["id"])
    main = client.create_workflow(_write_body(f"n8n-ops it orders {tag}", sub["id"]))
    created.append(main["id"])
    stored = client.get_workflow(main["id"])
    refs = {sub["id"]: "sub"}.get

    file = parse(render(stored, canonical_id="orders", slug="orders", workflow_ref=refs))
    body, problems = to_n8n(
        file,
        resolve_workflow={"sub": sub["id"]}.get,
        resolve_credential=lambda t, n: None,
        base=stored,
    )
    assert problems == []
    client.update_workflow(main["id"], body)
    again = client.get_workflow(main["id"])
    assert semantic_digest(again, workflow_ref=refs) == semantic_digest(stored, workflow_ref=refs)
    assert {n["name"]: (n["id"], n.get("webhookId")) for n in again["nodes"]} == {
        n["name"]: (n["id"], n.get("webhookId")) for n in stored["nodes"]
    }
    assert render(again, canonical_id="orders", slug="orders", workflow_ref=refs) == render(
        stored, canonical_id="orders", slug="orders", workflow_ref=refs
    )

    fresh, _ = to_n8n(
        file, resolve_workflow={"sub": sub["id"]}.get, resolve_credential=lambda t, n: None
    )
    copy_ = client.create_workflow({**fresh, "name": f"n8n-ops it copy {tag}"})
    created.append(copy_["id"])
    assert named(copy_, "Webhook")["webhookId"] == named(fresh, "Webhook")["webhookId"]
    assert semantic_digest(
        {**client.get_workflow(copy_["id"]), "name": stored["name"]}, workflow_ref=refs
    ) == semantic_digest(stored, workflow_ref=refs)
