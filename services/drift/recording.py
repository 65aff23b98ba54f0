"""What a drift check leaves behind, in one transaction: its drift_check_history row, the
environment's drift status (with the reason and the active incident), and the open incident:
opened per policy (system.md §4.2 auto-create conditions) or accumulating what drifts since,
marked cleared when a check finds none (a person still reconciles and closes it). DEV is
informational: its status is recorded, it never has incidents.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from models.db import db
from models.drift import DriftCheckHistory, DriftIncident
from models.environments import Environment
from services import audit, entitlements, events
from services.drift import incidents, policies, snapshot, timeline
from services.errors import Conflict

if TYPE_CHECKING:
    from services.drift.detection import Findings

#: How long a closed incident keeps a check from opening another over the same drift.
DUPLICATE_WINDOW = timedelta(hours=24)
#: Statuses that say the comparison could not be made.
UNAVAILABLE = ("ERROR", "GIT_UNAVAILABLE")


def record(
    env: Environment,
    findings: Findings,
    *,
    check_type: str,
    job_id: uuid.UUID | None,
    duration_ms: int,
) -> dict[str, Any]:
    """Store the check's outcome and act on it; committed. Returns the check's summary."""
    drifted = findings.drifted
    summary = {
        "reason": findings.reason,
        "counts": findings.counts,
        "untracked": findings.untracked,
        "drifted": drifted[: incidents.MAX_AFFECTED],
    }
    history = DriftCheckHistory(
        environment_id=env.id,
        check_type=check_type,
        drift_status=findings.status,
        drift_found=findings.drift,
        workflows_checked=findings.checked,
        workflows_with_drift=len(drifted),
        check_duration_ms=duration_ms,
        error_message=findings.reason if findings.status in UNAVAILABLE else None,
        summary=summary,
        job_id=job_id,
    )
    db.add(history)
    db.flush()
    was = env.drift_status
    values: dict[str, Any] = {
        "drift_status": findings.status,
        "drift_status_reason": findings.reason,
        "last_drift_check_at": func.now(),
    }
    if findings.drift:
        values["last_drift_detected_at"] = func.now()
    db.execute(update(Environment).where(Environment.id == env.id).values(**values))
    incident = None
    if findings.drift and env.environment_class != "dev":
        incident = _on_drift(env, drifted, history.id)
    elif findings.status == "IN_SYNC":
        _on_clean(env)
    if (
        findings.drift
        and was != "DRIFT_DETECTED"
        and policies.effective(env.id).notify_on_detection
    ):
        _detected_event(env, drifted, incident)
    db.commit()
    return {
        "check_id": str(history.id),
        "environment_id": str(env.id),
        "drift_status": findings.status,
        "reason": findings.reason,
        "workflows_checked": findings.checked,
        "workflows_with_drift": len(drifted),
        "counts": findings.counts,
        "incident_id": str(incident.id) if incident else None,
        "duration_ms": duration_ms,
    }


def _locked_active(env_id: uuid.UUID) -> DriftIncident | None:
    return db.scalar(
        select(DriftIncident)
        .where(
            DriftIncident.environment_id == env_id,
            DriftIncident.status != "closed",
            DriftIncident.is_deleted.is_(False),
        )
        .with_for_update()
    )


def _on_drift(
    env: Environment, affected: list[dict[str, Any]], check_id: uuid.UUID
) -> DriftIncident | None:
    active = _locked_active(env.id)
    if active is not None:
        accumulate(env, active, affected, check_id)
        return active
    if not _auto_creates(env) or _closed_lately(env.id, affected):
        return None
    snap = {
        "check_id": str(check_id),
        "workflows": affected[: incidents.MAX_AFFECTED],
        "diffs": snapshot.diffs(env, affected),
    }
    try:
        return incidents.open_incident(env, affected, detected_by=None, snapshot=snap)
    except Conflict:  # a person opened one meanwhile: drift adds to it
        active = _locked_active(env.id)
        if active is not None:
            accumulate(env, active, affected, check_id)
        return active


def _closed_lately(env_id: uuid.UUID, affected: list[dict[str, Any]]) -> bool:
    """An incident of the environment closed within DUPLICATE_WINDOW over this very drift:
    someone decided about it, so a check does not open it again at once (system.md §3.1)."""
    return (
        db.scalar(
            select(DriftIncident.id)
            .where(
                DriftIncident.environment_id == env_id,
                DriftIncident.status == "closed",
                DriftIncident.drift_fingerprint == incidents.fingerprint(affected),
                DriftIncident.closed_at > func.now() - DUPLICATE_WINDOW,
            )
            .limit(1)
        )
        is not None
    )


def _auto_creates(env: Environment) -> bool:
    """system.md §4.2: entitled, a policy that asks for it, production only if it says so."""
    policy = policies.effective(env.id)
    if policy.scope == "default" or not policy.auto_create_incidents:
        return False
    if policy.auto_create_for_production_only and env.environment_class != "production":
        return False
    return bool(entitlements.resolve()["features"].get("drift_incidents"))


def _key(item: dict[str, Any]) -> str:
    return str(item.get("canonical_id") or item.get("n8n_workflow_id"))


def accumulate(
    env: Environment, incident: DriftIncident, affected: list[dict[str, Any]], check_id: uuid.UUID
) -> None:
    """Add what drifts now to the open incident: new workflows, or new versions of ones it
    has; severity and TTL follow the rules unless a person set them."""
    known = {_key(a): a for a in incident.affected_workflows or []}
    fresh = [
        a
        for a in affected
        if _key(a) not in known
        or (known[_key(a)].get("runtime_digest"), known[_key(a)].get("kind"))
        != (a.get("runtime_digest"), a.get("kind"))
    ]
    values: dict[str, Any] = {"last_detected_at": func.now(), "cleared_at": None}
    if fresh:
        merged = {**known, **{_key(a): a for a in affected}}
        items = list(merged.values())
        values.update(
            affected_workflows=items[: incidents.MAX_AFFECTED],
            drift_fingerprint=incidents.fingerprint(items),
            summary=incidents.summary_of(items),
        )
        if incident.severity_source == "rules":
            severity = policies.severity_for(len(items))
            if severity != incident.severity:
                values["severity"] = severity
                if incident.ttl_source == "rules":
                    policy = policies.effective(env.id)
                    values["expires_at"] = incidents.expiry(policy, severity, incident.detected_at)
        timeline.record(
            incident.id,
            "accumulated",
            details={
                "check_id": str(check_id),
                "workflows": fresh[:100],
                "diffs": snapshot.diffs(env, fresh),
                "severity": values.get("severity", incident.severity),
            },
        )
        audit.record(
            "drift_incident.accumulate",
            resource_type="drift_incident",
            resource_id=incident.id,
            new={"added": len(fresh), "affected": len(items)},
        )
    db.execute(update(DriftIncident).where(DriftIncident.id == incident.id).values(**values))


def _on_clean(env: Environment) -> None:
    """A clean check marks the open incident cleared (once); it stays open for a person."""
    cleared = db.execute(
        update(DriftIncident)
        .where(
            DriftIncident.environment_id == env.id,
            DriftIncident.status != "closed",
            DriftIncident.is_deleted.is_(False),
            DriftIncident.cleared_at.is_(None),
        )
        .values(cleared_at=func.now())
        .returning(DriftIncident.id)
    ).scalar_one_or_none()
    if cleared is not None:
        timeline.record(cleared, "cleared", details={"reason": "A check found no drift."})


def _detected_event(
    env: Environment, affected: list[dict[str, Any]], incident: DriftIncident | None
) -> None:
    fingerprint = incidents.fingerprint(affected)
    events.record(
        "drift.detected",
        resource_type="environment",
        resource_id=env.id,
        payload={
            "environment_id": str(env.id),
            "environment": env.name,
            "incident_id": str(incident.id) if incident else None,
            "affected": len(affected),
            "workflows": [
                {k: a.get(k) for k in ("canonical_id", "name", "kind")} for a in affected[:20]
            ],
        },
        dedupe_key=f"drift.detected:{env.id}:{fingerprint}",
    )
