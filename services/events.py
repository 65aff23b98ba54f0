"""Notification events: each is recorded in the transaction of the change it reports, so an
event exists exactly when its change committed. Delivery (channels, rules) reads them later.

Event types are dotted names, ``<area>.<what happened>``: drift.detected, drift.ttl_warning,
drift.ttl_expired, drift.reconciled, promotion.pending_approval, deployment.completed,
deployment.failed, deployment.rolled_back, credential.missing, ...
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.db import current_tenant, db
from models.support import NotificationEvent
from services.rows import get_or_404

#: What an event type looks like: lower-case dotted words.
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def record(
    event_type: str,
    *,
    resource_type: str | None = None,
    resource_id: Any = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> bool:
    """Add an event to the current transaction; False when ``dedupe_key`` was recorded
    before (the event happens once, however many times its cause is seen)."""
    if not EVENT_TYPE.match(event_type):
        raise ValueError(f"not an event type: {event_type!r}")
    inserted = db.execute(
        pg_insert(NotificationEvent)
        .values(
            tenant_id=current_tenant(),
            event_type=event_type,
            resource_type=resource_type,
            resource_id=str(resource_id) if resource_id is not None else None,
            payload=payload or {},
            dedupe_key=dedupe_key,
        )
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "dedupe_key"],
            index_where=NotificationEvent.dedupe_key.is_not(None),
        )
        .returning(NotificationEvent.id)
    ).scalar_one_or_none()
    return inserted is not None


@dataclass(frozen=True)
class EventFilters:
    event_type: str | None = None
    #: A prefix such as "drift." selects a whole area.
    event_prefix: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    created_after: datetime | None = None


def list_query(filters: EventFilters) -> Select:
    """Events of the current tenant matching ``filters``, newest first."""
    query = select(NotificationEvent).where(NotificationEvent.tenant_id == current_tenant())
    if filters.event_type:
        query = query.where(NotificationEvent.event_type == filters.event_type)
    if filters.event_prefix:
        query = query.where(NotificationEvent.event_type.startswith(filters.event_prefix))
    if filters.resource_type:
        query = query.where(NotificationEvent.resource_type == filters.resource_type)
    if filters.resource_id:
        query = query.where(NotificationEvent.resource_id == filters.resource_id)
    if filters.created_after:
        query = query.where(NotificationEvent.created_at >= filters.created_after)
    return query.order_by(NotificationEvent.created_at.desc(), NotificationEvent.id.desc())


def get(event_id: uuid.UUID) -> NotificationEvent:
    return get_or_404(NotificationEvent, event_id, "No such event.")
