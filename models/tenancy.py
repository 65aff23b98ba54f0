"""Tenants, their users and personal API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned, Timestamps, UUIDPrimaryKey, enum_check, tenant_fk

ROLES = ("viewer", "developer", "admin")
SUBSCRIPTION_TIERS = ("free", "pro", "agency", "enterprise")


class Tenant(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "tenants"
    __table_args__ = (
        UniqueConstraint("slug"),
        enum_check("subscription_tier", SUBSCRIPTION_TIERS),
    )

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    #: Deprecated by tenant_plans; kept because the spec's schema has it.
    subscription_tier: Mapped[str] = mapped_column(String(20), server_default="free")


class User(TenantOwned, Timestamps, Base):
    __tablename__ = "users"
    __extra_args__ = (
        UniqueConstraint("tenant_id", "email"),
        # Per tenant: one person may be a member of several tenants under one subject.
        UniqueConstraint("tenant_id", "supabase_auth_id"),
        enum_check("role", ROLES),
    )

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    supabase_auth_id: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), server_default="viewer")
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))


class ApiToken(TenantOwned, Base):
    """A personal API token; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"
    __extra_args__ = (
        tenant_fk("user_id", "users", ondelete="CASCADE"),
        UniqueConstraint("token_hash"),
        Index("ix_api_tokens_tenant_id_user_id_created_at", "tenant_id", "user_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(100))
    #: The first characters of the token, shown in lists so a user can tell tokens apart.
    display_prefix: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class UserInvitation(TenantOwned, Base):
    """An invitation to bind a sign-in identity to a user row; only the token's SHA-256 is
    stored, and accepting it (once, before it expires) is the only way a subject gets bound."""

    __tablename__ = "user_invitations"
    __extra_args__ = (
        tenant_fk("user_id", "users", ondelete="CASCADE"),
        UniqueConstraint("token_hash"),
        Index("ix_user_invitations_tenant_id_user_id", "tenant_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
