"""The drift gate: may a promotion go into an environment now, and why (DOMAIN.md "Drift
gate"; spec Decisions 1, 2 and 5). Promotions call it right before their first change; the API
shows it at GET /api/v1/environments/{id}/drift-gate.

    verdict = gate.evaluate(env_id)      # DriftGate; never raises
    if verdict.blocked: refuse with verdict.reasons

By the environment's drift_handling_mode:
- warn_only: drift is recorded and never blocks;
- manual_override: blocked while drift is active (an open incident, or drift detected that no
  incident records yet), unless an admin's override (or an approved deployment_override
  request) covers the incident's current drift;
- require_attestation: blocked likewise, unless an attestation (who, why, ticket) covers it.
An incident past its TTL blocks in both blocking modes when the policy enforces TTLs
(enforce_ttl), whatever override there is: expiry is a deadline, not a formality. Expiry is
judged on the database clock at the moment of the call, so a TTL checker running late never
lets a promotion through.

The gate fails closed: any error while deciding blocks, with the error as the reason.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select

from models.db import db
from models.drift import DriftIncident
from models.environments import Environment
from services.drift import attestations, policies
from services.errors import DomainError, NotFound

log = logging.getLogger(__name__)

#: Modes that block promotions while drift is active.
BLOCKING_MODES = ("manual_override", "require_attestation")


@dataclass(frozen=True)
class DriftGate:
    """The gate's verdict for one environment."""

    environment_id: uuid.UUID
    blocked: bool
    #: The environment's drift_handling_mode (None when it could not be read).
    mode: str | None
    #: Why it is blocked, or why it passes, in sentences.
    reasons: list[str] = field(default_factory=list)
    #: The environment's open incident.
    incident_id: uuid.UUID | None = None
    #: The open incident is past its TTL.
    expired: bool = False
    #: The override or attestation that lets promotions pass (attestations.as_dict).
    override: dict[str, Any] | None = None
    #: The environment's drift status as the last check left it.
    drift_status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(env_id: uuid.UUID) -> DriftGate:
    """Decide whether promotions into ``env_id`` are blocked by drift; never raises."""
    try:
        with db.begin_nested():
            return _evaluate(env_id)
    except Exception as error:
        message = error.message if isinstance(error, DomainError) else repr(error)
        if not isinstance(error, NotFound):
            log.exception("drift gate of environment %s failed; blocking", env_id)
        return DriftGate(
            env_id,
            blocked=True,
            mode=None,
            reasons=[f"The drift gate could not be evaluated, so it blocks: {message}"],
        )


def _evaluate(env_id: uuid.UUID) -> DriftGate:
    env = db.get(Environment, env_id)
    if env is None:
        raise NotFound("No such environment.")
    row = db.execute(
        select(DriftIncident, (DriftIncident.expires_at <= func.now()).label("past_due")).where(
            DriftIncident.environment_id == env.id,
            DriftIncident.status != "closed",
            DriftIncident.is_deleted.is_(False),
        )
    ).one_or_none()
    verdict = {"mode": env.drift_handling_mode, "drift_status": env.drift_status}
    if row is None:
        return _without_incident(env, verdict)
    incident, past_due = row
    expired = bool(incident.expired_at is not None or past_due)
    verdict.update(incident_id=incident.id, expired=expired)
    if env.drift_handling_mode not in BLOCKING_MODES:
        return DriftGate(env.id, False, reasons=[_warn_only(env, incident)], **verdict)
    if expired and policies.effective(env.id).enforce_ttl:
        return DriftGate(
            env.id,
            True,
            reasons=[
                f"Incident {incident.id} in {env.name} expired at "
                f"{incident.expires_at.isoformat()} and the drift policy blocks promotions into "
                "an environment with an expired incident until it is resolved; no override "
                "lifts this."
            ],
            **verdict,
        )
    return _overridden_or_blocked(env, incident, verdict)


def _without_incident(env: Environment, verdict: dict[str, Any]) -> DriftGate:
    if env.drift_status != "DRIFT_DETECTED":
        return DriftGate(env.id, False, reasons=[_no_drift(env)], **verdict)
    if env.drift_handling_mode not in BLOCKING_MODES:
        return DriftGate(env.id, False, reasons=[_warn_only(env, None)], **verdict)
    return DriftGate(
        env.id,
        True,
        reasons=[
            f"Drift was detected in {env.name} ({env.drift_status_reason or 'see its drift'}) "
            f"and {env.drift_handling_mode} blocks promotions into it; no incident records it "
            "yet: open one to override it, or resolve the drift."
        ],
        **verdict,
    )


def _overridden_or_blocked(
    env: Environment, incident: DriftIncident, verdict: dict[str, Any]
) -> DriftGate:
    mode = env.drift_handling_mode
    in_force = attestations.in_force(incident, mode)
    covering = next(
        (a for a in in_force if a.covers_fingerprint == incident.drift_fingerprint), None
    )
    if covering is not None:
        given = attestations.as_dict(covering)
        return DriftGate(
            env.id,
            False,
            reasons=[
                f"Drift is active in {env.name} (incident {incident.id}); promotions pass on "
                f"the {covering.kind} given at {given['created_at']}: {covering.reason}"
                + (f" (ticket {covering.ticket_ref})" if covering.ticket_ref else "")
            ],
            override=given,
            **verdict,
        )
    needed = (
        "an admin's attestation (why, and a ticket)"
        if mode == "require_attestation"
        else "an admin's override"
    )
    reasons = [
        f"Drift is active in {env.name} (incident {incident.id}, {incident.status}, severity "
        f"{incident.severity or 'unset'}{', expired' if verdict['expired'] else ''}) and {mode} "
        f"blocks promotions into it until the drift is resolved or {needed} covers it."
    ]
    if in_force:
        reasons.append(
            f"The {in_force[0].kind} given at {in_force[0].created_at.isoformat()} no longer "
            "covers it: the drift changed since."
        )
    return DriftGate(env.id, True, reasons=reasons, **verdict)


def _no_drift(env: Environment) -> str:
    if env.drift_status in ("IN_SYNC", "DEPLOY_MISSING", "NEW"):
        return f"No active drift in {env.name} ({env.drift_status})."
    # Unknown or unavailable: nothing is known to drift; the promotion's own checks of n8n
    # and Git decide whether the environment can be written.
    return (
        f"No drift is known in {env.name}, but its drift status is {env.drift_status}"
        + (f": {env.drift_status_reason}" if env.drift_status_reason else "")
        + "."
    )


def _warn_only(env: Environment, incident: DriftIncident | None) -> str:
    what = f"incident {incident.id}" if incident else "no incident yet"
    return f"Drift is active in {env.name} ({what}); warn_only records it and never blocks."
