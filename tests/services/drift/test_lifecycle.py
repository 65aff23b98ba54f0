"""An incident's lifecycle: the transition table (409 on anything else, closed is terminal),
who/when/why/ticket/owner recorded, approvals required per policy and resolving to exactly one
decision when two approvers act at once, TTL expiry marking (never closing) with its events,
and retention that never touches open incidents."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models.db import db, tenant_scope
from models.drift import DriftIncident, DriftIncidentEvent
from models.environments import Environment
from models.support import NotificationEvent
from services.drift import approvals, gate, lifecycle, policies, retention, ttl
from services.errors import Conflict, Forbidden, PolicyBlocked
from tests.drift import on_plan, open_incident, principal, set_incident


@pytest.fixture
def prod(factory, tenant, fake_n8n):
    on_plan(factory, tenant, "enterprise")
    return factory.environment(
        tenant.id, fake_n8n, environment_class="production", drift_handling_mode="manual_override"
    )


@pytest.fixture
def incident(factory, tenant, prod):
    return open_incident(factory, tenant, prod)


def _move(factory, tenant, incident_id, to, role="admin", **options):
    return factory.run_as(
        tenant.id, lifecycle.transition, incident_id, to, principal=principal(tenant, role),
        **options,
    )  # fmt: skip


def _read(app, tenant, incident_id) -> DriftIncident:
    with app.app_context(), tenant_scope(tenant.id):
        row = db.get(DriftIncident, incident_id)
        db.expunge_all()
    return row


def _timeline(app, tenant, incident_id) -> list[DriftIncidentEvent]:
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.scalars(
            select(DriftIncidentEvent)
            .where(DriftIncidentEvent.incident_id == incident_id)
            .order_by(DriftIncidentEvent.created_at, DriftIncidentEvent.id)
        ).all()
        db.expunge_all()
    return list(rows)


def _no_approvals(factory, tenant):
    factory.run_as(
        tenant.id,
        policies.create,
        environment_id=None,
        require_approval_for_reconcile=False,
        require_approval_for_extend_ttl=False,
    )


def test_the_full_lifecycle_records_who_when_why_ticket_and_owner(
    app, factory, tenant, prod, incident
):
    _no_approvals(factory, tenant)
    owner = tenant.user_ids["developer"]
    _move(factory, tenant, incident.id, "acknowledged", "developer", reason="looking",
          ticket_ref="OPS-1", owner_user_id=owner)  # fmt: skip
    _move(factory, tenant, incident.id, "stabilized", "developer", reason="hotfix holds")
    _move(factory, tenant, incident.id, "reconciled", resolution_type="revert")
    _move(factory, tenant, incident.id, "closed", reason="done")

    row = _read(app, tenant, incident.id)
    assert row.status == "closed" and row.closed_by == tenant.user_ids["admin"]
    assert row.acknowledged_by == tenant.user_ids["developer"] and row.acknowledged_at
    assert row.owner_user_id == owner and row.ticket_ref == "OPS-1"
    assert row.resolution_type == "revert"
    steps = [(e.from_status, e.to_status) for e in _timeline(app, tenant, incident.id)][1:]
    assert steps == [
        ("detected", "acknowledged"),
        ("acknowledged", "stabilized"),
        ("stabilized", "reconciled"),
        ("reconciled", "closed"),
    ]
    with app.app_context(), tenant_scope(tenant.id):
        assert db.get(Environment, prod.id).active_drift_incident_id is None
        [event] = db.scalars(
            select(NotificationEvent).where(NotificationEvent.event_type == "drift.reconciled")
        ).all()
        assert event.payload["incident_id"] == str(incident.id)


@pytest.mark.parametrize(
    ("path", "to"),
    [((), "stabilized"), ((), "reconciled"), (("acknowledged",), "acknowledged")],
)
def test_an_illegal_transition_is_a_409_and_changes_nothing(
    app, factory, tenant, incident, path, to
):
    for step in path:
        _move(factory, tenant, incident.id, step)
    with pytest.raises(Conflict) as raised:
        _move(factory, tenant, incident.id, to, resolution_type="revert")
    assert raised.value.code == "illegal_transition"
    assert _read(app, tenant, incident.id).status == (path[-1] if path else "detected")


def test_closed_is_terminal_even_for_an_admin_override(factory, tenant, incident):
    _move(factory, tenant, incident.id, "closed", reason="noise", resolution_type="acknowledge")
    with pytest.raises(Conflict) as raised:
        _move(factory, tenant, incident.id, "acknowledged", admin_override=True)
    assert raised.value.code == "incident_closed"


def test_an_admin_override_skips_the_table_and_approvals_and_is_recorded(
    app, factory, tenant, incident
):
    with pytest.raises(Forbidden):
        _move(factory, tenant, incident.id, "reconciled", "developer", admin_override=True,
              resolution_type="replace")  # fmt: skip
    _move(factory, tenant, incident.id, "reconciled", admin_override=True,
          resolution_type="replace")  # fmt: skip
    assert _timeline(app, tenant, incident.id)[-1].admin_override is True


def test_reconcile_needs_an_approval_by_default(factory, tenant, incident):
    _move(factory, tenant, incident.id, "acknowledged")
    with pytest.raises(PolicyBlocked) as raised:
        _move(factory, tenant, incident.id, "reconciled", resolution_type="revert")
    assert raised.value.code == "approval_required"


def test_an_approval_executes_its_action_and_the_requester_cannot_approve(
    app, factory, tenant, incident
):
    _move(factory, tenant, incident.id, "acknowledged")
    dev = principal(tenant, "developer")
    request = factory.run_as(
        tenant.id, approvals.request, incident.id, "reconcile", principal=dev,
        reason="reverted by hand", action_params={"resolution_type": "revert"},
    )  # fmt: skip
    with pytest.raises(Forbidden):
        factory.run_as(tenant.id, approvals.approve, request.id, principal=dev)

    decided = factory.run_as(tenant.id, approvals.approve, request.id, principal=principal(tenant))

    assert decided.status == "approved" and decided.executed_at is not None
    assert _read(app, tenant, incident.id).status == "reconciled"
    with pytest.raises(Conflict):
        factory.run_as(tenant.id, approvals.reject, request.id, principal=principal(tenant))


def test_two_approvers_at_once_resolve_to_exactly_one_decision(app, factory, tenant, incident):
    request = factory.run_as(
        tenant.id, approvals.request, incident.id, "acknowledge",
        principal=principal(tenant, "developer"), reason="ack please",
    )  # fmt: skip
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(action):
        barrier.wait()
        try:
            factory.run_as(tenant.id, action, request.id, principal=principal(tenant))
            outcomes.append(action.__name__)
        except Conflict:
            outcomes.append("409")

    threads = [
        threading.Thread(target=decide, args=(a,)) for a in (approvals.approve, approvals.reject)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) in (["409", "approve"], ["409", "reject"])
    final = factory.run_as(tenant.id, approvals.get, request.id)
    assert final.status == ("approved" if "approve" in outcomes else "rejected")
    assert (_read(app, tenant, incident.id).status == "acknowledged") == (
        final.status == "approved"
    )


def test_one_pending_request_per_incident_and_type_and_cancel(factory, tenant, incident):
    dev = principal(tenant, "developer")
    first = factory.run_as(tenant.id, approvals.request, incident.id, "close", principal=dev)
    with pytest.raises(Conflict):
        factory.run_as(tenant.id, approvals.request, incident.id, "close", principal=dev)
    cancelled = factory.run_as(tenant.id, approvals.cancel, first.id, principal=dev)
    assert cancelled.status == "cancelled"
    factory.run_as(tenant.id, approvals.request, incident.id, "close", principal=dev)


def test_ttl_expiry_marks_warns_once_emits_and_never_closes(app, factory, tenant, prod, incident):
    factory.run_as(tenant.id, policies.create, environment_id=None, enforce_ttl=True)
    soon = datetime.now(UTC) + timedelta(hours=2)
    set_incident(app, tenant, incident.id, expires_at=soon)

    assert factory.run_as(tenant.id, ttl.run) == {"warned": 1, "expired": 0}
    assert factory.run_as(tenant.id, ttl.run) == {"warned": 0, "expired": 0}
    set_incident(app, tenant, incident.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert factory.run_as(tenant.id, ttl.run) == {"warned": 0, "expired": 1}

    row = _read(app, tenant, incident.id)
    assert row.status == "detected" and row.expired_at is not None
    kinds = [e.event_type for e in _timeline(app, tenant, incident.id)]
    assert kinds[-2:] == ["ttl_warning", "ttl_expired"]
    with app.app_context(), tenant_scope(tenant.id):
        emitted = db.scalars(select(NotificationEvent.event_type)).all()
    assert sorted(emitted) == ["drift.ttl_expired", "drift.ttl_warning"]
    # Expired and open, the policy enforcing TTLs: it blocks, whatever override there is.
    verdict = factory.run_as(tenant.id, gate.evaluate, prod.id)
    assert verdict.blocked and verdict.expired


def test_extending_the_ttl_lifts_expiry(app, factory, tenant, incident):
    _no_approvals(factory, tenant)
    set_incident(
        app, tenant, incident.id, expires_at=datetime.now(UTC) - timedelta(hours=1),
        expired_at=datetime.now(UTC),
    )  # fmt: skip
    factory.run_as(
        tenant.id, lifecycle.extend_ttl, incident.id, hours=24, principal=principal(tenant)
    )
    row = _read(app, tenant, incident.id)
    assert row.expired_at is None and row.ttl_source == "person"
    assert row.expires_at > datetime.now(UTC) + timedelta(hours=23)


def test_retention_purges_closed_payloads_and_never_open_ones(
    app, factory, tenant, prod, fake_n8n, incident
):
    _move(factory, tenant, incident.id, "closed", reason="noise", resolution_type="acknowledge")
    old = datetime.now(UTC) - timedelta(days=400)
    set_incident(app, tenant, incident.id, closed_at=old)
    staging = factory.environment(tenant.id, fake_n8n, environment_class="staging")
    still_open = open_incident(factory, tenant, staging)
    set_incident(app, tenant, still_open.id, detected_at=old)

    assert factory.run_as(tenant.id, retention.purge)["incidents"] == 1

    purged, kept = _read(app, tenant, incident.id), _read(app, tenant, still_open.id)
    assert purged.drift_snapshot is None and purged.payload_purged_at is not None
    assert kept.drift_snapshot is not None and kept.payload_purged_at is None
    assert all(e.details == {} for e in _timeline(app, tenant, incident.id))


def test_a_lapsed_request_cannot_be_decided_and_frees_its_place(app, factory, tenant, incident):
    from sqlalchemy import update

    from models.drift import DriftApproval

    dev = principal(tenant, "developer")
    first = factory.run_as(tenant.id, approvals.request, incident.id, "close", principal=dev)
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(
            update(DriftApproval)
            .where(DriftApproval.id == first.id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        db.commit()
    with pytest.raises(Conflict) as raised:
        factory.run_as(tenant.id, approvals.approve, first.id, principal=principal(tenant))
    assert raised.value.code == "approval_expired"
    factory.run_as(tenant.id, approvals.request, incident.id, "close", principal=dev)
    assert factory.run_as(tenant.id, approvals.get, first.id).status == "cancelled"


def test_a_severity_set_by_a_person_stays_and_every_change_is_audited(
    app, factory, tenant, prod, incident
):
    from services.drift import recording
    from tests.canonical import audit_actions
    from tests.drift import finding

    factory.run_as(
        tenant.id, lifecycle.update_fields, incident.id, principal=principal(tenant),
        severity="critical", ticket_ref="OPS-9",
    )  # fmt: skip
    row = _read(app, tenant, incident.id)
    assert row.severity == "critical" and row.severity_source == "person"

    def grow():
        env = db.get(Environment, prod.id)
        live = db.get(DriftIncident, incident.id)
        recording.accumulate(env, live, [finding(n) for n in range(6)], incident.id)
        db.commit()

    factory.run_as(tenant.id, grow)
    assert _read(app, tenant, incident.id).severity == "critical"  # the rules do not move it
    _move(factory, tenant, incident.id, "acknowledged", "developer")
    actions = [a[0] for a in audit_actions(app, tenant, "drift_incident.")]
    assert actions == [
        "drift_incident.create",
        "drift_incident.update",
        "drift_incident.accumulate",
        "drift_incident.acknowledged",
    ]
