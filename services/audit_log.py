"""Reading the audit trail: the tenant's entries with filters, newest first, and the emails
of the people they name. The values were redacted when written (services.audit)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select

from models.audit import AuditLog
from models.db import current_tenant, db
from models.tenancy import User
from services.rows import get_or_404


@dataclass(frozen=True)
class AuditFilters:
    actor_id: uuid.UUID | None = None
    #: An action ("user.invite") or its family ("user").
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    #: Entries at or after this time.
    created_after: datetime | None = None
    #: Entries before this time.
    created_before: datetime | None = None


def list_query(filters: AuditFilters) -> Select:
    """The tenant's audit entries matching ``filters``, newest first."""
    query = select(AuditLog).where(AuditLog.tenant_id == current_tenant())
    conditions = (
        (filters.actor_id, lambda: AuditLog.actor_id == filters.actor_id),
        (
            filters.action,
            lambda: or_(AuditLog.action == filters.action, AuditLog.action_type == filters.action),
        ),
        (filters.resource_type, lambda: AuditLog.resource_type == filters.resource_type),
        (filters.resource_id, lambda: AuditLog.resource_id == filters.resource_id),
        (filters.created_after, lambda: AuditLog.created_at >= filters.created_after),
        (filters.created_before, lambda: AuditLog.created_at < filters.created_before),
    )
    for value, condition in conditions:
        if value:
            query = query.where(condition())
    return query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())


def get(entry_id: uuid.UUID) -> AuditLog:
    return get_or_404(AuditLog, entry_id, "No such audit entry.")


def emails(entries: Iterable[AuditLog]) -> dict[uuid.UUID, str]:
    """The email of each user the entries name (actor or impersonated), in one query; users
    of other tenants (platform admins) stay ids."""
    ids = {
        user_id
        for entry in entries
        for user_id in (entry.actor_id, entry.impersonated_user_id)
        if user_id is not None
    }
    if not ids:
        return {}
    rows = db.execute(
        select(User.id, User.email).where(User.tenant_id == current_tenant(), User.id.in_(ids))
    )
    return dict(rows.all())
