"""The audit trail, platform admins and their impersonation sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSON, Base, CreatedAt, TenantOwned, UUIDPrimaryKey, enum_check
from models.environments import PROVIDERS


class AuditLog(TenantOwned, CreatedAt, Base):
    """One write or sensitive action: who did it (and as whom), to what, before and after."""

    __tablename__ = "audit_logs"
    __extra_args__ = (
        Index("ix_audit_logs_tenant_id_created_at", "tenant_id", "created_at"),
        Index(
            "ix_audit_logs_impersonation_session_id",
            "impersonation_session_id",
            postgresql_where=text("impersonation_session_id IS NOT NULL"),
        ),
        enum_check("provider", PROVIDERS),
    )

    action_type: Mapped[str] = mapped_column(String(100))
    action: Mapped[str | None] = mapped_column(Text)
    # The user and session ids below carry no foreign keys: audit rows must outlive the
    # users and sessions they name, unchanged.
    actor_id: Mapped[uuid.UUID | None]
    #: The actor's email when the row was written, readable after the user is gone.
    actor_email: Mapped[str | None] = mapped_column(String(320))
    impersonated_user_id: Mapped[uuid.UUID | None]
    impersonation_session_id: Mapped[uuid.UUID | None]
    resource_type: Mapped[str | None] = mapped_column(String(100))
    #: Text, not uuid: some resources are named by n8n ids.
    resource_id: Mapped[str | None] = mapped_column(Text)
    old_value: Mapped[JSON | None] = mapped_column(JSONB(none_as_null=True))
    new_value: Mapped[JSON | None] = mapped_column(JSONB(none_as_null=True))
    meta: Mapped[JSON] = mapped_column("metadata", server_default=text("'{}'::jsonb"))
    #: Text rather than INET: a malformed forwarded address must not make the audit write fail.
    ip_address: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(20))


class PlatformAdmin(CreatedAt, Base):
    """A user allowed to act across tenants."""

    __tablename__ = "platform_admins"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class PlatformImpersonationSession(UUIDPrimaryKey, Base):
    """A platform admin acting as a tenant user, from start to end."""

    __tablename__ = "platform_impersonation_sessions"
    __table_args__ = (
        # Composite so the impersonated user is guaranteed to belong to the impersonated tenant.
        ForeignKeyConstraint(
            ["impersonated_user_id", "impersonated_tenant_id"],
            ["users.id", "users.tenant_id"],
            ondelete="CASCADE",
        ),
        Index(
            "uq_platform_impersonation_sessions_active_actor",
            "actor_user_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    actor_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    impersonated_user_id: Mapped[uuid.UUID]
    impersonated_tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ended_at: Mapped[datetime | None]
    ip_address: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
