"""Drift incidents: what drifted in an environment, from detection to closing. At most one
incident per environment is active (not closed; a unique index holds it): detection adds to
the open one (``accumulate``) rather than opening another.

    incident = incidents.create(env_id, principal=..., title=..., reason=...)   # by a person
    incidents.get(incident_id), incidents.active_for(env_id), incidents.list_query(...)

Severity follows the affected count (policies.severity_for) unless a person set it; the TTL
(expires_at) follows the policy's hours for the severity unless a person set or extended it.
The drift snapshot (what differed, with the diffs) is written once, at creation, and the
database refuses any later change but retention's; what accumulates later goes into the
incident's timeline with its own snapshot.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError

from models.db import db
from models.drift import DriftCheckHistory, DriftIncident
from models.environments import Environment
from models.tenancy import User
from services import audit, entitlements, environments
from services.drift import policies, timeline
from services.errors import Conflict, InvalidInput, NotFound, PolicyBlocked
from services.identity import Principal
from services.rows import get_or_404

#: An incident counts as active (open) in these statuses.
ACTIVE_STATUSES = ("detected", "acknowledged", "stabilized", "reconciled")
#: Affected workflows kept on the incident itself; the count and fingerprint cover all.
MAX_AFFECTED = 1000


def get(incident_id: uuid.UUID) -> DriftIncident:
    """An incident of the current tenant (a deleted one is gone, as another tenant's is)."""
    row = get_or_404(DriftIncident, incident_id, "No such incident.")
    if row.is_deleted:
        raise NotFound("No such incident.")
    return row


def active_for(env_id: uuid.UUID) -> DriftIncident | None:
    """The environment's open incident, if any."""
    return db.scalar(
        select(DriftIncident).where(
            DriftIncident.environment_id == env_id,
            DriftIncident.status != "closed",
            DriftIncident.is_deleted.is_(False),
        )
    )


@dataclass(frozen=True)
class IncidentFilters:
    environment_id: uuid.UUID | None = None
    status: str | None = None
    severity: str | None = None
    #: True: open ones only; False: closed ones only.
    active: bool | None = None
    expired: bool | None = None


def list_query(filters: IncidentFilters) -> Select:
    """Incidents matching ``filters``, newest first."""
    query = select(DriftIncident).where(DriftIncident.is_deleted.is_(False))
    if filters.environment_id:
        query = query.where(DriftIncident.environment_id == filters.environment_id)
    if filters.status:
        query = query.where(DriftIncident.status == filters.status)
    if filters.severity:
        query = query.where(DriftIncident.severity == filters.severity)
    if filters.active is not None:
        open_ = DriftIncident.status != "closed"
        query = query.where(open_ if filters.active else ~open_)
    if filters.expired is not None:
        expired = DriftIncident.expired_at.is_not(None)
        query = query.where(expired if filters.expired else ~expired)
    return query.order_by(DriftIncident.detected_at.desc(), DriftIncident.id.desc())


# --- what drifted -----------------------------------------------------------------------------


def fingerprint(affected: Iterable[dict[str, Any]]) -> str | None:
    """A digest of what drifts (each workflow, how, and the digests involved): overrides
    cover one fingerprint, so drift that changes afterwards needs a new one."""
    lines = sorted(
        "|".join(
            str(item.get(key) or "")
            for key in ("canonical_id", "n8n_workflow_id", "kind", "runtime_digest")
        )
        for item in affected
    )
    if not lines:
        return None
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def expiry(policy: policies.Policy, severity: str, detected_at: datetime | None = None):
    """expires_at for ``severity``: from detection (now, in the database, for a new one)."""
    hours = timedelta(hours=policy.ttl_hours(severity))
    return (detected_at + hours) if detected_at else func.now() + hours


def _latest_findings(env_id: uuid.UUID) -> list[dict[str, Any]]:
    """The drifted workflows of the environment's latest completed comparison."""
    summary = db.scalar(
        select(DriftCheckHistory.summary)
        .where(
            DriftCheckHistory.environment_id == env_id,
            DriftCheckHistory.drift_status.in_(("IN_SYNC", "DRIFT_DETECTED", "DEPLOY_MISSING")),
        )
        .order_by(DriftCheckHistory.checked_at.desc())
        .limit(1)
    )
    return list((summary or {}).get("drifted") or [])


# --- opening ------------------------------------------------------------------------------------


def check_owner(owner_user_id: uuid.UUID | None) -> None:
    """An owner is a user of the tenant (400 otherwise, never a foreign-key error)."""
    if owner_user_id is not None and db.get(User, owner_user_id) is None:
        raise InvalidInput("owner_user_id names no user of this tenant.", code="unknown_owner")


def require_incidents_entitlement() -> None:
    if not entitlements.resolve()["features"].get("drift_incidents"):
        raise PolicyBlocked(
            "Drift incidents are not part of your plan; upgrade to manage drift as incidents.",
            code="feature_not_entitled",
            feature="drift_incidents",
        )


def create(
    env_id: uuid.UUID,
    *,
    principal: Principal,
    title: str | None = None,
    reason: str | None = None,
    severity: str | None = None,
    owner_user_id: uuid.UUID | None = None,
    ticket_ref: str | None = None,
) -> DriftIncident:
    """Open an incident by hand (a person saw drift, or wants one to hang an override on):
    it takes the drifted workflows of the environment's latest check."""
    env = environments.get(env_id)
    require_incidents_entitlement()
    check_owner(owner_user_id)
    if env.environment_class == "dev":
        raise Conflict(
            "Drift in a DEV environment is informational: its runtime is its own source of "
            "truth, so it has no incidents.",
            code="dev_has_no_incidents",
        )
    affected = _latest_findings(env.id)
    incident = open_incident(
        env,
        affected,
        detected_by=principal.user_id,
        title=title,
        severity=severity,
        reason=reason,
        owner_user_id=owner_user_id,
        ticket_ref=ticket_ref,
    )
    db.commit()
    return incident


def open_incident(
    env: Environment,
    affected: list[dict[str, Any]],
    *,
    detected_by: uuid.UUID | None,
    title: str | None = None,
    severity: str | None = None,
    reason: str | None = None,
    owner_user_id: uuid.UUID | None = None,
    ticket_ref: str | None = None,
    snapshot: dict[str, Any] | None = None,
) -> DriftIncident:
    """Insert the environment's open incident (in the caller's transaction) and point the
    environment at it; Conflict naming the open one if there is one already."""
    policy = policies.effective(env.id)
    computed = policies.severity_for(len(affected))
    chosen = severity or computed
    incident = DriftIncident(
        environment_id=env.id,
        status="detected",
        title=title or _title(env, affected),
        summary=summary_of(affected),
        detected_by=detected_by,
        owner_user_id=owner_user_id,
        reason=reason,
        ticket_ref=ticket_ref,
        severity=chosen,
        severity_source="person" if severity else "rules",
        expires_at=expiry(policy, chosen),
        affected_workflows=affected[:MAX_AFFECTED],
        drift_fingerprint=fingerprint(affected),
        drift_snapshot=snapshot or {"workflows": affected[:MAX_AFFECTED]},
        last_detected_at=func.now() if affected else None,
    )
    try:
        with db.begin_nested():
            db.add(incident)
            db.flush()
    except IntegrityError:
        other = active_for(env.id)
        raise Conflict(
            f"{env.name} has an open incident already; drift adds to it.",
            code="incident_open",
            incident_id=str(other.id) if other else None,
        ) from None
    db.execute(
        update(Environment)
        .where(Environment.id == env.id)
        .values(active_drift_incident_id=incident.id)
    )
    db.refresh(incident)
    timeline.record(
        incident.id,
        "created",
        actor_id=detected_by,
        to_status="detected",
        reason=reason,
        ticket_ref=ticket_ref,
        owner_user_id=owner_user_id,
        details={"affected": len(affected), "severity": chosen},
    )
    audit.record(
        "drift_incident.create",
        resource_type="drift_incident",
        resource_id=incident.id,
        new={
            "environment_id": str(env.id),
            "severity": chosen,
            "affected": len(affected),
            "expires_at": incident.expires_at.isoformat() if incident.expires_at else None,
        },
    )
    return incident


def _title(env: Environment, affected: list[dict[str, Any]]) -> str:
    if not affected:
        return f"Drift in {env.name}"
    names = ", ".join(str(a.get("name") or a.get("canonical_id")) for a in affected[:3])
    more = f" and {len(affected) - 3} more" if len(affected) > 3 else ""
    return f"Drift in {env.name}: {names}{more}"


def summary_of(affected: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for item in affected:
        counts[item.get("kind", "modified")] = counts.get(item.get("kind", "modified"), 0) + 1
    return {"affected": len(affected), "by_kind": counts}
