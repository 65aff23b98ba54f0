"""A planted n8n API key never shows up in logs, API responses, job rows, audit values,
stored data, broker messages or error texts, through success and failure alike."""

from __future__ import annotations

import logging
import uuid

import dramatiq
import pytest
from sqlalchemy import text

from models.db import db, tenant_scope
from tests.fake_n8n import FakeN8n
from tests.jobs.helpers import wait_for

PLANTED = f"n8n_api_PLANTED_{uuid.uuid4().hex}"

#: Every tenant table whose rows could carry text from n8n or from our errors.
TABLES = (
    "background_jobs",
    "audit_logs",
    "environments",
    "workflow_env_map",
    "executions",
    "credentials",
    "credential_health",
)


@pytest.fixture
def planted_n8n():
    with FakeN8n(api_key=PLANTED) as fake:
        yield fake


def _dump_tables(app, tenant_id) -> str:
    with app.app_context(), tenant_scope(tenant_id):
        dumps = [
            db.scalar(text(f"SELECT coalesce(json_agg(t)::text, '') FROM {table} t"))
            for table in TABLES
        ]
    return "\n".join(dumps)


def _dump_broker() -> str:
    broker = dramatiq.get_broker()
    found = []
    for key in broker.client.scan_iter(f"{broker.namespace}*"):
        if broker.client.type(key) == b"hash":
            found.extend(v.decode() for v in broker.client.hvals(key))
    return "\n".join(found)


def test_a_planted_api_key_never_leaks(app, client, tenant, planted_n8n, worker, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def call(method, path, **kwargs):
        response = getattr(client, method)(path, headers=tenant.admin, **kwargs)
        seen.append(response.get_data(as_text=True))
        return response

    planted_n8n.add_workflows(3)
    wf = planted_n8n.add_workflow(name="Fails")
    planted_n8n.add_execution(wf["id"], status="error", error_message="boom", error_node="Set")
    created = call(
        "post",
        "/api/v1/environments",
        json={
            "name": "planted",
            "url": planted_n8n.url,
            "api_key": PLANTED,
            "environment_class": "dev",
        },
    ).json
    env_id = created["id"]
    onboarding = wait_for(app, tenant.id, uuid.UUID(created["onboarding_job"]["id"]))
    assert onboarding.status == "completed", onboarding.error_message
    call("post", f"/api/v1/environments/{env_id}/test")
    call("get", f"/api/v1/environments/{env_id}")
    call("get", f"/api/v1/environments/{env_id}/workflows")
    call("get", "/api/v1/executions", query_string={"environment_id": env_id})

    # Failures: n8n refuses a listing, the key stops being accepted, n8n goes away.
    planted_n8n.fail_path(r"/workflows$", 400)
    failed_sync = call("post", f"/api/v1/environments/{env_id}/sync").json
    assert wait_for(app, tenant.id, uuid.UUID(failed_sync["id"]), timeout=30).status == "failed"
    planted_n8n.clear_faults()
    planted_n8n.api_key = "the-instance-now-wants-another-key"
    refused = call("post", f"/api/v1/environments/{env_id}/sync-executions").json
    refused_job = wait_for(app, tenant.id, uuid.UUID(refused["id"]), timeout=30)
    assert refused_job.status == "failed" and "401" in refused_job.error_message
    call("post", f"/api/v1/environments/{env_id}/test")
    planted_n8n.go_down()
    call("post", f"/api/v1/environments/{env_id}/test")
    call("get", "/api/v1/jobs")
    for job in call("get", "/api/v1/jobs").json:
        call("get", f"/api/v1/jobs/{job['id']}")

    everything = {
        "responses": "\n".join(seen),
        "logs": caplog.text,
        "tables": _dump_tables(app, tenant.id),
        "broker": _dump_broker(),
    }
    assert "401" in everything["tables"]  # the failures really were recorded
    for where, content in everything.items():
        assert PLANTED not in content, f"the API key leaked into {where}"
