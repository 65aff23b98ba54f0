"""Rerunning a job needs the permission of the operation that starts its kind."""

from __future__ import annotations

import pytest

from jobs import core
from jobs.attempts import claim, finish
from models.db import db, tenant_scope
from models.jobs import JOB_TYPES, BackgroundJob
from tests.jobs.helpers import start_job
from web.auth import PERMISSIONS, RERUN_PERMISSIONS


def test_every_job_kind_has_a_rerun_permission():
    """A new kind must be given an entry (its starting operation's action, or None)."""
    registered = {policy.job_type for policy in core.registered_policies()}
    assert set(RERUN_PERMISSIONS) == set(JOB_TYPES) | registered
    for job_type, action in RERUN_PERMISSIONS.items():
        assert action is None or action in PERMISSIONS, job_type


def _finished(app, tenant, job_type):
    """A finished job of ``job_type``; kinds without an actor yet get their row directly."""
    if job_type in {policy.job_type for policy in core.registered_policies()}:
        job_id = start_job(app, tenant.id, job_type)
        finish(claim(job_id, tenant.id, message_id=f"m-{job_id}"), "completed", result={})
        return job_id
    with app.app_context(), tenant_scope(tenant.id):
        job = BackgroundJob(
            job_type=job_type, status="completed", queue_name="default", actor_name=job_type
        )
        db.add(job)
        db.commit()
        return job.id


@pytest.mark.parametrize(
    "job_type", [kind for kind, action in RERUN_PERMISSIONS.items() if action is None]
)
def test_clock_only_kinds_cannot_be_rerun_by_any_tenant_user(app, client, tenant, job_type):
    job_id = _finished(app, tenant, job_type)
    response = client.post(f"/api/v1/jobs/{job_id}/rerun", headers=tenant.admin)
    assert response.status_code == 403
    assert response.json["error"] == "not_rerunnable"
    bulk = client.post("/api/v1/jobs/rerun", json={"job_type": job_type}, headers=tenant.admin)
    assert bulk.status_code == 200
    assert bulk.json["rerun"] == []
    assert [s["job_id"] for s in bulk.json["skipped"]] == [str(job_id)]


def test_a_developer_cannot_rerun_what_only_an_admin_may_start(app, client, tenant):
    job_id = _finished(app, tenant, "healthcheck")  # jobs:healthcheck is admin's
    refused = client.post(f"/api/v1/jobs/{job_id}/rerun", headers=tenant.developer)
    assert refused.status_code == 403
    assert refused.json["details"]["required_role"] == "admin"
    assert client.post(f"/api/v1/jobs/{job_id}/rerun", headers=tenant.admin).status_code == 202
