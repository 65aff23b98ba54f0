"""The drift check against the fake n8n and a real Git repository: an edit in place, a
settings-only change and a workflow gone from n8n are drift; an ignored path and untracked
workflows are not; outages are never "in sync"; the incident opens per policy, accumulates,
and is marked cleared (never closed) by a clean check."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from models.db import db, tenant_scope
from models.drift import DriftCheckHistory, DriftIncident, DriftIncidentEvent
from models.environments import Environment
from models.support import NotificationEvent
from services import ignore_rules, runtime_digest
from services.drift import policies
from services.secrets import keyring
from tests.drift import approve_all, check, delete_in_n8n, edit_in_n8n, on_plan, set_environment


@pytest.fixture
def prod(factory, tenant, fake_n8n):
    on_plan(factory, tenant, "enterprise")
    return factory.environment(tenant.id, fake_n8n, environment_class="production")


def _env(app, tenant, env) -> Environment:
    with app.app_context(), tenant_scope(tenant.id):
        row = db.get(Environment, env.id)
        db.expunge_all()
    return row


def _incidents(app, tenant, env) -> list[DriftIncident]:
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.scalars(select(DriftIncident).where(DriftIncident.environment_id == env.id)).all()
        db.expunge_all()
    return list(rows)


def _rename_no_op(body):
    body["nodes"][1]["parameters"] = {"note": "changed in production"}


def _auto_create(factory, tenant):
    factory.run_as(tenant.id, policies.create, environment_id=None, auto_create_incidents=True)


def test_an_aligned_environment_is_in_sync_and_recorded(app, factory, tenant, prod, fake_n8n):
    approve_all(factory, tenant, prod, fake_n8n, 3)
    fake_n8n.add_workflow(name="Someone's experiment")

    result = check(factory, tenant, prod)

    assert result["drift_status"] == "IN_SYNC"
    assert result["workflows_checked"] == 3 and result["workflows_with_drift"] == 0
    assert result["counts"]["untracked"] == 1
    env = _env(app, tenant, prod)
    assert env.drift_status == "IN_SYNC" and env.last_drift_check_at is not None
    with app.app_context(), tenant_scope(tenant.id):
        [history] = db.scalars(select(DriftCheckHistory)).all()
        assert history.drift_status == "IN_SYNC" and not history.drift_found
        assert history.workflows_checked == 3 and history.check_duration_ms is not None


def test_an_edit_in_place_is_drift_and_untracked_workflows_never_are(
    app, factory, tenant, prod, fake_n8n
):
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 2))
    edit_in_n8n(fake_n8n, ids[0], _rename_no_op)
    fake_n8n.add_workflow(name="Untracked")

    result = check(factory, tenant, prod, check_type="scheduled")

    assert result["drift_status"] == "DRIFT_DETECTED"
    assert result["counts"] == {"modified": 1, "missing": 0, "not_in_git": 0, "untracked": 1}
    env = _env(app, tenant, prod)
    assert env.drift_status == "DRIFT_DETECTED" and env.last_drift_detected_at is not None
    assert "1 modified" in env.drift_status_reason
    # No policy asks for incidents: the drift is recorded, no incident opened.
    assert result["incident_id"] is None and _incidents(app, tenant, prod) == []
    with app.app_context(), tenant_scope(tenant.id):
        [history] = db.scalars(select(DriftCheckHistory)).all()
        assert history.check_type == "scheduled" and history.workflows_with_drift == 1
        [drifted] = history.summary["drifted"]
        assert drifted["n8n_workflow_id"] == ids[0] and drifted["kind"] == "modified"
        [event] = db.scalars(select(NotificationEvent)).all()
        assert event.event_type == "drift.detected"


def test_a_settings_only_change_is_drift(factory, tenant, prod, fake_n8n):
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 1))
    edit_in_n8n(fake_n8n, ids[0], lambda body: body["settings"].update(timezone="Europe/Paris"))

    result = check(factory, tenant, prod)

    assert result["drift_status"] == "DRIFT_DETECTED" and result["counts"]["modified"] == 1


def test_a_change_under_an_ignore_rule_is_not_drift(factory, tenant, prod, fake_n8n):
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 1))

    def add_rule():
        ignore_rules.create(rule="$.nodes[*].parameters.note")
        db.commit()
        runtime_digest.rehash_tenant()

    factory.run_as(tenant.id, add_rule)
    edit_in_n8n(fake_n8n, ids[0], _rename_no_op)

    assert check(factory, tenant, prod)["drift_status"] == "IN_SYNC"


def test_a_workflow_gone_from_n8n_is_drift(factory, tenant, prod, fake_n8n):
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 2))
    delete_in_n8n(fake_n8n, ids[1])

    result = check(factory, tenant, prod)

    assert result["drift_status"] == "DRIFT_DETECTED"
    assert result["counts"]["missing"] == 1 and result["counts"]["modified"] == 0


def test_nothing_approved_yet_is_not_onboarded(app, factory, tenant, prod, fake_n8n):
    fake_n8n.add_workflows(2)
    assert check(factory, tenant, prod)["drift_status"] == "NEW"
    assert "Not onboarded" in _env(app, tenant, prod).drift_status_reason


def test_an_n8n_outage_is_an_error_with_its_reason_never_in_sync(
    app, factory, tenant, prod, fake_n8n
):
    approve_all(factory, tenant, prod, fake_n8n, 1)
    assert check(factory, tenant, prod)["drift_status"] == "IN_SYNC"
    fake_n8n.go_down()

    result = check(factory, tenant, prod)

    assert result["drift_status"] == "ERROR" and "n8n could not be read" in result["reason"]
    env = _env(app, tenant, prod)
    assert env.drift_status == "ERROR" and "n8n" in env.drift_status_reason
    with app.app_context(), tenant_scope(tenant.id):
        latest = db.scalars(
            select(DriftCheckHistory).order_by(DriftCheckHistory.checked_at.desc())
        ).first()
        assert latest.drift_status == "ERROR" and latest.error_message


def test_a_git_outage_is_git_unavailable_with_its_reason(
    app, factory, tenant, prod, fake_n8n, git_server
):
    from tests.git.server import WRITE_TOKEN

    approve_all(factory, tenant, prod, fake_n8n, 1)
    with app.app_context():
        token = keyring().encrypt(WRITE_TOKEN)
    set_environment(
        app,
        tenant,
        prod.id,
        github_repo_url=git_server.url("no-such-repository"),
        github_token_encrypted=token,
    )

    result = check(factory, tenant, prod)

    assert result["drift_status"] == "GIT_UNAVAILABLE"
    assert "Git could not be read" in _env(app, tenant, prod).drift_status_reason


def test_drift_opens_an_incident_per_policy_which_accumulates_and_is_cleared(
    app, factory, tenant, prod, fake_n8n
):
    _auto_create(factory, tenant)
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 3))
    edit_in_n8n(fake_n8n, ids[0], _rename_no_op)

    first = check(factory, tenant, prod)

    [incident] = _incidents(app, tenant, prod)
    assert first["incident_id"] == str(incident.id) and incident.status == "detected"
    assert incident.severity == "low" and incident.severity_source == "rules"
    assert incident.expires_at is not None and incident.detected_by is None
    diff = incident.drift_snapshot["diffs"][str(incident.affected_workflows[0]["canonical_id"])]
    assert diff["identical"] is False and diff["changes"]
    assert _env(app, tenant, prod).active_drift_incident_id == incident.id

    edit_in_n8n(fake_n8n, ids[1], _rename_no_op)
    check(factory, tenant, prod)

    [grown] = _incidents(app, tenant, prod)
    assert grown.id == incident.id and len(grown.affected_workflows) == 2
    # Higher severity, shorter TTL (72 h for medium, 168 h for low), from detection.
    assert grown.severity == "medium" and grown.expires_at < incident.expires_at
    assert grown.drift_snapshot == incident.drift_snapshot  # immutable
    assert grown.drift_fingerprint != incident.drift_fingerprint

    # Put n8n back as approved: the incident stays open, marked cleared.
    for n8n_id in ids[:2]:
        edit_in_n8n(fake_n8n, n8n_id, lambda body: body["nodes"][1].update(parameters={}))
    assert check(factory, tenant, prod)["drift_status"] == "IN_SYNC"
    [cleared] = _incidents(app, tenant, prod)
    assert cleared.status == "detected" and cleared.cleared_at is not None
    with app.app_context(), tenant_scope(tenant.id):
        kinds = db.scalars(
            select(DriftIncidentEvent.event_type).order_by(DriftIncidentEvent.created_at)
        ).all()
    assert kinds == ["created", "accumulated", "cleared"]


def test_dev_drift_is_informational_and_opens_no_incident(app, factory, tenant, fake_n8n):
    on_plan(factory, tenant, "enterprise")
    dev = factory.environment(tenant.id, fake_n8n, environment_class="dev")
    factory.run_as(
        tenant.id,
        policies.create,
        environment_id=None,
        auto_create_incidents=True,
        auto_create_for_production_only=False,
    )
    ids = list(approve_all(factory, tenant, dev, fake_n8n, 1))
    edit_in_n8n(fake_n8n, ids[0], _rename_no_op)

    assert check(factory, tenant, dev)["drift_status"] == "DRIFT_DETECTED"
    assert _incidents(app, tenant, dev) == []


def test_drift_someone_closed_today_does_not_reopen_but_new_drift_does(
    app, factory, tenant, prod, fake_n8n
):
    from services.drift import lifecycle
    from tests.drift import principal

    _auto_create(factory, tenant)
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 2))
    edit_in_n8n(fake_n8n, ids[0], _rename_no_op)
    first = check(factory, tenant, prod)["incident_id"]
    factory.run_as(
        tenant.id, lifecycle.transition, uuid.UUID(first), "closed", principal=principal(tenant),
        reason="accepted for now", resolution_type="acknowledge",
    )  # fmt: skip

    assert check(factory, tenant, prod)["incident_id"] is None
    edit_in_n8n(fake_n8n, ids[1], _rename_no_op)
    reopened = check(factory, tenant, prod)["incident_id"]
    assert reopened and reopened != first
