"""Backup and restore against a real n8n (opt-in: N8N_URL and N8N_API_KEY): a workflow is made
canonical and backed up to Git, changed in n8n, then restored from the snapshot in place (the
same n8n id, its webhook path kept) and restored again after it was deleted (created anew).
Everything it creates is named "n8n-ops it ..." and deleted again."""

from __future__ import annotations

import contextlib
import uuid
from types import SimpleNamespace

import pytest

from services import canonical_onboarding, restore, snapshots
from services.n8n import N8nNotFound
from tests.canonical import rows, run, sync_env
from tests.integration.conftest import KEY, URL

pytestmark = pytest.mark.real_n8n


def _body(name: str, message: str) -> dict:
    return {
        "name": name,
        "nodes": [
            {
                "name": "Webhook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2,
                "position": [0, 0],
                "parameters": {"path": f"it-{uuid.uuid4().hex[:8]}", "httpMethod": "POST"},
            },
            {
                "name": "Set",
                "type": "n8n-nodes-base.set",
                "typeVersion": 3.4,
                "position": [220, 0],
                "parameters": {
                    "assignments": {
                        "assignments": [
                            {"id": "a1", "name": "message", "value": message, "type": "string"}
                        ]
                    }
                },
            },
        ],
        "connections": {"Webhook": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
        "settings": {"executionOrder": "v1"},
    }


def _message(workflow: dict) -> str:
    [node] = [n for n in workflow["nodes"] if n["name"] == "Set"]
    return node["parameters"]["assignments"]["assignments"][0]["value"]


@pytest.fixture
def workflow(client):
    stored = client.create_workflow(_body(f"n8n-ops it backup {uuid.uuid4().hex[:8]}", "v1"))
    ids = [stored["id"]]
    yield stored, ids
    for workflow_id in ids:
        with contextlib.suppress(N8nNotFound):
            client.delete_workflow(workflow_id)


def test_backup_change_restore_keeps_the_id_and_recreates_a_deleted_one(
    app, client, factory, tenant, workflow
):
    stored, created = workflow
    instance = SimpleNamespace(url=URL, api_key=KEY)
    env = factory.environment(tenant.id, instance, environment_class="staging")
    sync_env(factory, tenant, env)
    run(factory, tenant, canonical_onboarding.adopt, env.id, [stored["id"]])
    snapshot = run(
        factory, tenant, snapshots.backup, env.id, snapshot_id=uuid.uuid4(),
        n8n_ids=[stored["id"]], refresh=False,
    )  # fmt: skip
    assert snapshot["workflows"] == 1 and snapshot["commit"]

    changed = _body(stored["name"], "v2")
    changed["nodes"][0]["parameters"]["path"] = stored["nodes"][0]["parameters"]["path"]
    client.update_workflow(stored["id"], changed)
    assert _message(client.get_workflow(stored["id"])) == "v2"

    again = run(
        factory, tenant, restore.restore, env.id,
        snapshot_id=uuid.UUID(snapshot["snapshot_id"]), n8n_ids=[stored["id"]],
    )  # fmt: skip
    [outcome] = again["workflows"]
    assert outcome["action"] == "updated" and outcome["n8n_id"] == stored["id"]
    assert outcome["verified"], outcome
    back = client.get_workflow(stored["id"])
    assert _message(back) == "v1"
    webhook = next(n for n in back["nodes"] if n["name"] == "Webhook")
    assert webhook["parameters"]["path"] == stored["nodes"][0]["parameters"]["path"]

    client.delete_workflow(stored["id"])
    anew = run(
        factory, tenant, restore.restore, env.id,
        snapshot_id=uuid.UUID(snapshot["snapshot_id"]), n8n_ids=[stored["id"]],
    )  # fmt: skip
    [outcome] = anew["workflows"]
    created.append(outcome["n8n_id"])
    assert outcome["action"] == "created" and outcome["n8n_id"] != stored["id"]
    assert _message(client.get_workflow(outcome["n8n_id"])) == "v1"
    assert rows(app, tenant, env)[outcome["n8n_id"]].status == "linked"
