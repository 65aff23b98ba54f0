"""An incident's timeline (drift_incident_events): every transition with who, when, why, the
ticket and the owner; drift accumulated; TTL warnings and expiry; overrides and approvals.
Entries are added in the transaction of the change they describe and never change after
(the database refuses it; retention only empties ``details``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, insert, select

from models.db import current_tenant, db
from models.drift import DriftIncidentEvent


def record(
    incident_id: uuid.UUID,
    event_type: str,
    *,
    actor_id: uuid.UUID | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    ticket_ref: str | None = None,
    owner_user_id: uuid.UUID | None = None,
    admin_override: bool = False,
    details: dict[str, Any] | None = None,
) -> None:
    """Add one entry to the caller's transaction."""
    db.execute(
        insert(DriftIncidentEvent).values(
            tenant_id=current_tenant(),
            incident_id=incident_id,
            event_type=event_type,
            actor_id=actor_id,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            ticket_ref=ticket_ref,
            owner_user_id=owner_user_id,
            admin_override=admin_override,
            details=details or {},
        )
    )


def list_query(incident_id: uuid.UUID) -> Select:
    """The incident's timeline, oldest first."""
    return (
        select(DriftIncidentEvent)
        .where(
            DriftIncidentEvent.tenant_id == current_tenant(),
            DriftIncidentEvent.incident_id == incident_id,
        )
        .order_by(DriftIncidentEvent.created_at, DriftIncidentEvent.id)
    )
