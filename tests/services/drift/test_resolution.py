"""Resolving an incident as a job: revert writes the approved version back in place (same n8n
id) and reconciles on a clean re-check; keep hotfix commits the running version as approved;
both leave a reconciliation artifact and refuse while Git is unavailable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.db import db, tenant_scope
from models.drift import DriftIncident, ReconciliationArtifact
from services import git
from services.drift import policies, resolution
from services.errors import Conflict
from services.secrets import keyring
from tests.drift import (
    approve_all,
    check,
    edit_in_n8n,
    on_plan,
    principal,
    set_environment,
)
from tests.jobs.helpers import wait_for


@pytest.fixture
def prod(factory, tenant, fake_n8n):
    on_plan(factory, tenant, "enterprise")
    factory.run_as(tenant.id, policies.create, environment_id=None, auto_create_incidents=True)
    return factory.environment(tenant.id, fake_n8n, environment_class="production")


def _drifted(factory, tenant, prod, fake_n8n):
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 2))
    edit_in_n8n(fake_n8n, ids[0], lambda b: b["nodes"][1].update(parameters={"x": 1}))
    result = check(factory, tenant, prod)
    assert result["drift_status"] == "DRIFT_DETECTED" and result["incident_id"]
    return ids, result["incident_id"]


def _no_op(workflow) -> dict:
    return next(n for n in workflow["nodes"] if n["name"] == "No Op")["parameters"]


def _resolve(app, factory, tenant, incident_id, kind):
    job = factory.run_as(
        tenant.id, resolution.start, incident_id, kind, principal=principal(tenant)
    )
    return wait_for(app, tenant.id, job.id, timeout=60)


def _state(app, tenant, incident_id):
    with app.app_context(), tenant_scope(tenant.id):
        incident = db.get(DriftIncident, incident_id)
        [artifact] = db.scalars(select(ReconciliationArtifact)).all()
        db.expunge_all()
    return incident, artifact


def test_revert_writes_the_approved_version_in_place_and_reconciles(
    app, factory, tenant, prod, fake_n8n, worker
):
    ids, incident_id = _drifted(factory, tenant, prod, fake_n8n)
    before_ids = fake_n8n.workflow_ids()

    job = _resolve(app, factory, tenant, incident_id, "revert")

    assert job.status == "completed", job.error_message
    assert fake_n8n.workflow_ids() == before_ids  # same ids: updated in place
    assert _no_op(fake_n8n.workflow(ids[0])) == {}
    incident, artifact = _state(app, tenant, incident_id)
    assert incident.status == "reconciled" and incident.resolution_type == "revert"
    assert artifact.status == "success" and artifact.resolution == "revert"
    [written] = [w for w in artifact.artifact_data["workflows"] if w["n8n_id"] == ids[0]]
    assert written["action"] == "updated" and written["before"]["n8n_id"] == ids[0]
    assert written["before"]["digest"] != written["after"]["digest"]
    assert artifact.artifact_data["recheck"]["drift_status"] == "IN_SYNC"
    assert check(factory, tenant, prod)["drift_status"] == "IN_SYNC"


def test_keep_hotfix_commits_the_running_version_as_approved(
    app, factory, tenant, prod, fake_n8n, worker
):
    ids, incident_id = _drifted(factory, tenant, prod, fake_n8n)

    job = _resolve(app, factory, tenant, incident_id, "keep_hotfix")

    assert job.status == "completed", job.error_message
    assert _no_op(fake_n8n.workflow(ids[0])) == {"x": 1}  # untouched
    incident, artifact = _state(app, tenant, incident_id)
    assert incident.status == "reconciled" and artifact.status == "success"
    target = factory.run_as(tenant.id, git.target_for, prod)
    [latest, *_] = factory.run_as(tenant.id, git.history, target, "")
    assert latest.operation == "keep_hotfix" and latest.links == {"incident": str(incident_id)}
    assert artifact.artifact_data["commit"] == latest.sha


def test_resolutions_refuse_while_git_is_unavailable(
    app, factory, tenant, prod, fake_n8n, git_server
):
    from tests.git.server import WRITE_TOKEN

    _, incident_id = _drifted(factory, tenant, prod, fake_n8n)
    with app.app_context():
        token = keyring().encrypt(WRITE_TOKEN)
    set_environment(
        app, tenant, prod.id, github_repo_url=git_server.url("gone"), github_token_encrypted=token
    )
    for kind in ("revert", "keep_hotfix"):
        with pytest.raises(Conflict) as raised:
            factory.run_as(
                tenant.id, resolution.start, incident_id, kind, principal=principal(tenant)
            )
        assert raised.value.code == "git_unavailable"
