"""Onboarding a new environment end to end, through the API and a real worker."""

from __future__ import annotations

import uuid

from tests.jobs.helpers import wait_for


def _connect(client, tenant, fake, **fields):
    body = {
        "name": f"env-{uuid.uuid4().hex[:6]}",
        "url": fake.url,
        "api_key": fake.api_key,
        "environment_class": "production",
        **fields,
    }
    created = client.post("/api/v1/environments", json=body, headers=tenant.admin)
    assert created.status_code == 201, created.json
    return created.json


def test_onboarding_runs_every_step(app, client, tenant, fake_n8n, worker):
    workflow = fake_n8n.add_workflow(name="Billing")
    fake_n8n.add_workflows(4)
    fake_n8n.add_execution(workflow["id"], status="success")
    fake_n8n.add_execution(workflow["id"], status="error", error_message="boom", error_node="HTTP")
    env = _connect(client, tenant, fake_n8n)
    job = wait_for(app, tenant.id, uuid.UUID(env["onboarding_job"]["id"]), timeout=30)
    assert job.status == "completed", job.error_message
    assert job.attempt == 1
    assert job.progress == {"current": 4, "total": 4, "percentage": 100, "message": "completed"}
    summary = job.result
    assert summary["version_family"] == "1.x"
    assert summary["workflows"]["workflows"] == 5
    assert summary["executions"]["inserted"] == 2
    assert "credentials" in summary
    after = client.get(f"/api/v1/environments/{env['id']}", headers=tenant.viewer).json
    assert after["connection_status"] == "healthy"
    assert after["n8n_version_family"] == "1.x"
    for stamp in (
        "last_sync_at",
        "last_execution_sync_at",
        "last_credential_sync_at",
        "last_heartbeat_at",
    ):
        assert after[stamp] is not None, stamp
    failed = client.get(
        "/api/v1/executions",
        query_string={"environment_id": env["id"], "status": "error"},
        headers=tenant.viewer,
    ).json
    assert [(e["error_node"], e["error_message"]) for e in failed] == [("HTTP", "boom")]


def test_onboarding_with_a_refused_key_fails_once_and_says_why(
    app, client, tenant, fake_n8n, worker
):
    env = _connect(client, tenant, fake_n8n, api_key="wrong-key")
    job = wait_for(app, tenant.id, uuid.UUID(env["onboarding_job"]["id"]), timeout=30)
    assert job.status == "failed"
    assert job.attempt == 1  # a refused key is not retried
    assert "refused the API key" in job.error_message
    assert fake_n8n.writes() == []
    after = client.get(f"/api/v1/environments/{env['id']}", headers=tenant.viewer).json
    assert after["connection_status"] == "unauthorized"
    assert after["last_sync_at"] is None
