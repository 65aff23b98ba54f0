"""The TTL checker of one tenant (system.md §4.7: every minute; Decision 2): one warning
``expiration_warning_hours`` (per policy) before an open incident expires, and at expiry the
incident is marked expired, never closed; each emits its event once (drift.ttl_warning,
drift.ttl_expired) with a timeline entry. The gate judges expiry on the database clock
anyway, so a checker running late never lets a promotion through.

    ttl.run() -> {"warned": n, "expired": n}
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from models.db import db
from models.drift import DriftIncident
from services import events
from services.drift import policies, timeline

_OPEN = (
    DriftIncident.status != "closed",
    DriftIncident.is_deleted.is_(False),
    DriftIncident.expired_at.is_(None),
    DriftIncident.expires_at.is_not(None),
)


def run() -> dict[str, int]:
    """Expire what is due, then warn what is about to be; committed."""
    expired = db.execute(
        update(DriftIncident)
        .where(*_OPEN, DriftIncident.expires_at <= func.now())
        .values(expired_at=func.now(), updated_at=func.now())
        .returning(DriftIncident.id, DriftIncident.environment_id, DriftIncident.expires_at)
    ).all()
    for row in expired:
        timeline.record(row.id, "ttl_expired", details={"expires_at": row.expires_at.isoformat()})
        _event("drift.ttl_expired", row)
    warned = _warn()
    db.commit()
    return {"warned": warned, "expired": len(expired)}


def _warn() -> int:
    candidates = db.execute(
        select(
            DriftIncident.id,
            DriftIncident.environment_id,
            DriftIncident.expires_at,
            (DriftIncident.expires_at - func.now()).label("left"),
        ).where(*_OPEN, DriftIncident.ttl_warning_sent_at.is_(None))
    ).all()
    if not candidates:
        return 0
    by_env = policies.effective_many(list({row.environment_id for row in candidates}))
    due = [
        row
        for row in candidates
        if row.left.total_seconds() <= by_env[row.environment_id].expiration_warning_hours * 3600
    ]
    if not due:
        return 0
    db.execute(
        update(DriftIncident)
        .where(DriftIncident.id.in_([row.id for row in due]))
        .values(ttl_warning_sent_at=func.now())
    )
    for row in due:
        timeline.record(row.id, "ttl_warning", details={"expires_at": row.expires_at.isoformat()})
        _event("drift.ttl_warning", row)
    return len(due)


def _event(event_type: str, row: Any) -> None:
    events.record(
        event_type,
        resource_type="drift_incident",
        resource_id=row.id,
        payload={
            "incident_id": str(row.id),
            "environment_id": str(row.environment_id),
            "expires_at": row.expires_at.isoformat(),
        },
        dedupe_key=f"{event_type}:{row.id}:{row.expires_at.isoformat()}",
    )
