"""The audit trail: who changed what, with old and new values, in the caller's transaction."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert

from models.audit import AuditLog
from models.db import current_tenant, db


@dataclass(frozen=True)
class AuditActor:
    """Who acts, and from where: filled per request by web/ or per job by jobs/."""

    actor_id: uuid.UUID | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    impersonated_user_id: uuid.UUID | None = None
    impersonation_session_id: uuid.UUID | None = None


_NOBODY = AuditActor()
_actor: ContextVar[AuditActor] = ContextVar("audit_actor", default=_NOBODY)


def set_actor(actor: AuditActor) -> None:
    _actor.set(actor)


def current_actor() -> AuditActor:
    return _actor.get()


def record(
    action: str,
    *,
    resource_type: str,
    resource_id: Any = None,
    old: dict | None = None,
    new: dict | None = None,
    meta: dict | None = None,
) -> None:
    """Add an audit row to the current transaction; it commits or rolls back with the change.

    Values must already be free of secrets: callers pass the public fields only.
    """
    actor = _actor.get()
    db.execute(
        insert(AuditLog).values(
            tenant_id=current_tenant(),
            action_type=action.split(".", 1)[0],
            action=action,
            actor_id=actor.actor_id,
            impersonated_user_id=actor.impersonated_user_id,
            impersonation_session_id=actor.impersonation_session_id,
            resource_type=resource_type,
            resource_id=str(resource_id) if resource_id is not None else None,
            old_value=old,
            new_value=new,
            meta=meta or {},
            ip_address=actor.ip_address,
            user_agent=actor.user_agent,
        )
    )
