"""The drift gate per drift_handling_mode: warn_only never blocks, manual_override and
require_attestation block while drift is active unless an override (an attestation with a
ticket) covers the current drift, expired incidents block when the policy enforces TTLs, and
any error blocks (fail closed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from models.db import db, tenant_scope
from services.drift import attestations, gate, policies
from services.errors import InvalidInput
from tests.drift import finding, on_plan, open_incident, principal, set_environment, set_incident


@pytest.fixture
def prod(factory, tenant, fake_n8n):
    on_plan(factory, tenant, "enterprise")
    return factory.environment(
        tenant.id, fake_n8n, environment_class="production", drift_handling_mode="manual_override"
    )


def _gate(factory, tenant, env_id):
    return factory.run_as(tenant.id, gate.evaluate, env_id)


def _override(factory, tenant, incident_id, **options):
    return factory.run_as(
        tenant.id,
        attestations.give,
        incident_id,
        principal=principal(tenant),
        reason=options.pop("reason", "hotfix for the outage"),
        **options,
    )


def test_no_drift_passes(factory, tenant, prod):
    verdict = _gate(factory, tenant, prod.id)
    assert not verdict.blocked and verdict.mode == "manual_override"
    assert verdict.incident_id is None and verdict.override is None


def test_warn_only_records_drift_and_never_blocks(app, factory, tenant, prod):
    set_environment(app, tenant, prod.id, drift_handling_mode="warn_only")
    incident = open_incident(factory, tenant, prod)
    set_incident(app, tenant, incident.id, expires_at=datetime.now(UTC) - timedelta(hours=1))

    verdict = _gate(factory, tenant, prod.id)

    assert not verdict.blocked and verdict.expired and verdict.incident_id == incident.id
    assert "warn_only" in verdict.reasons[0]


def test_manual_override_blocks_until_an_admin_overrides_the_current_drift(
    app, factory, tenant, prod
):
    incident = open_incident(factory, tenant, prod)
    blocked = _gate(factory, tenant, prod.id)
    assert blocked.blocked and blocked.incident_id == incident.id
    assert "manual_override" in blocked.reasons[0]

    given = _override(factory, tenant, incident.id)
    passed = _gate(factory, tenant, prod.id)
    assert not passed.blocked and passed.override["id"] == str(given.id)
    assert given.kind == "override" and given.covers_fingerprint == incident.drift_fingerprint

    # More drift arrives: the override covered what drifted then, not this.
    set_incident(app, tenant, incident.id, drift_fingerprint="f" * 64)
    again = _gate(factory, tenant, prod.id)
    assert again.blocked and "no longer covers" in again.reasons[1]


def test_require_attestation_needs_a_ticket(app, factory, tenant, prod):
    set_environment(app, tenant, prod.id, drift_handling_mode="require_attestation")
    incident = open_incident(factory, tenant, prod, [finding(1), finding(2)])

    with pytest.raises(InvalidInput) as refused:
        _override(factory, tenant, incident.id)
    assert refused.value.code == "ticket_required"
    assert _gate(factory, tenant, prod.id).blocked

    attested = _override(factory, tenant, incident.id, ticket_ref="OPS-42")
    verdict = _gate(factory, tenant, prod.id)
    assert attested.kind == "attestation"
    assert not verdict.blocked and verdict.override["ticket_ref"] == "OPS-42"


def test_a_revoked_or_lapsed_override_blocks_again(app, factory, tenant, prod):
    incident = open_incident(factory, tenant, prod)
    given = _override(factory, tenant, incident.id, valid_hours=1)
    assert not _gate(factory, tenant, prod.id).blocked

    factory.run_as(tenant.id, attestations.revoke, given.id, principal=principal(tenant))
    assert _gate(factory, tenant, prod.id).blocked

    _override(factory, tenant, incident.id, valid_hours=1)
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(text("UPDATE drift_attestations SET expires_at = now() - interval '1 s'"))
        db.commit()
        db.remove()
    assert _gate(factory, tenant, prod.id).blocked


def test_an_expired_incident_blocks_whatever_the_override_when_ttls_are_enforced(
    app, factory, tenant, prod
):
    incident = open_incident(factory, tenant, prod)
    _override(factory, tenant, incident.id)
    # Past its TTL, though the TTL checker has not marked it yet: the database clock decides.
    set_incident(app, tenant, incident.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))

    lenient = _gate(factory, tenant, prod.id)
    assert not lenient.blocked and lenient.expired

    factory.run_as(tenant.id, policies.create, environment_id=None, enforce_ttl=True)
    strict = _gate(factory, tenant, prod.id)
    assert strict.blocked and strict.expired and "expired" in strict.reasons[0]


def test_drift_detected_without_an_incident_blocks_a_blocking_mode(app, factory, tenant, prod):
    set_environment(
        app, tenant, prod.id, drift_status="DRIFT_DETECTED", drift_status_reason="2 modified"
    )
    verdict = _gate(factory, tenant, prod.id)
    assert verdict.blocked and verdict.incident_id is None
    assert "no incident records it" in verdict.reasons[0]


def test_the_gate_fails_closed(app, factory, tenant, prod, monkeypatch):
    missing = _gate(factory, tenant, uuid.uuid4())
    assert missing.blocked and "No such environment" in missing.reasons[0]

    def broken(_env_id):
        db.execute(text("SELECT no_such_column FROM environments"))

    open_incident(factory, tenant, prod)
    monkeypatch.setattr(policies, "effective", broken)
    # The policy is read for expired incidents only: make this one expired.
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(text("UPDATE drift_incidents SET expires_at = now() - interval '1 h'"))
        db.commit()
        verdict = gate.evaluate(prod.id)
        # The failed statement was rolled back to the gate's savepoint: the caller's
        # session still works.
        assert db.scalar(text("SELECT 1")) == 1
        db.remove()
    assert verdict.blocked and "could not be evaluated" in verdict.reasons[0]
    assert "no_such_column" in verdict.reasons[0]


def test_another_tenants_environment_is_blocked_like_a_missing_one(
    factory, tenant, other_tenant, prod
):
    verdict = _gate(factory, other_tenant, prod.id)
    assert verdict.blocked and "No such environment" in verdict.reasons[0]
