"""n8n credential metadata per environment, and its health. Secret values are never stored."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned, Timestamps, enum_check, tenant_fk

#: unknown: nothing exercised it lately; auth_error: its target refused it (401/403, invalid
#: key, expired token); error: it failed for another reason (target down, timeouts, 5xx).
HEALTH_STATUSES = ("unknown", "healthy", "warning", "auth_error", "error")
CREDENTIAL_SOURCES = ("api", "workflows")
HEALTH_METHODS = ("test_endpoint", "executions")


class Credential(TenantOwned, Timestamps, Base):
    """An n8n credential's id, name and type as listed by one environment (no secret data)."""

    __tablename__ = "credentials"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "environment_id", "n8n_credential_id"),
        enum_check("source", CREDENTIAL_SOURCES),
    )

    environment_id: Mapped[uuid.UUID]
    n8n_credential_id: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    #: n8n credential type (e.g. slackApi); with name, how promotions find the target credential.
    type: Mapped[str] = mapped_column(Text)
    shared_with_projects: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    #: n8n workflow ids whose nodes reference this credential, derived at refresh.
    used_by_workflows: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    #: Where the inventory came from: n8n's credential list (2.x) or workflow nodes (1.x).
    source: Mapped[str] = mapped_column(String(20), server_default="workflows")


class CredentialHealth(TenantOwned, Timestamps, Base):
    """The latest health check of one credential."""

    __tablename__ = "credential_health"
    __extra_args__ = (
        tenant_fk("credential_id", "credentials", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "credential_id"),
        enum_check("status", HEALTH_STATUSES),
        enum_check("check_method", HEALTH_METHODS),
    )

    credential_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(20))
    last_checked_at: Mapped[datetime] = mapped_column(server_default=func.now())
    error_message: Mapped[str | None] = mapped_column(Text)
    #: How the status was decided: n8n's credential test (2.x) or recent execution errors.
    check_method: Mapped[str] = mapped_column(String(20), server_default="executions")
