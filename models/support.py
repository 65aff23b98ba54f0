"""Support tickets and notification routing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSON, Base, CreatedAt, TenantOwned, Timestamps, enum_check, tenant_fk

TICKET_TYPES = ("bug", "feature", "help")
TICKET_STATUSES = ("open", "in_progress", "resolved", "closed")
TICKET_PRIORITIES = ("low", "medium", "high", "urgent")
CHANNEL_TYPES = ("slack", "email", "webhook")


class SupportTicket(TenantOwned, Timestamps, Base):
    """A user's request to platform support."""

    __tablename__ = "support_tickets"
    __extra_args__ = (
        tenant_fk("created_by", "users", ondelete="SET NULL"),
        enum_check("ticket_type", TICKET_TYPES),
        enum_check("status", TICKET_STATUSES),
        enum_check("priority", TICKET_PRIORITIES),
    )

    ticket_type: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    priority: Mapped[str] = mapped_column(String(20), server_default="medium")
    created_by: Mapped[uuid.UUID | None]
    # Tickets are worked by platform admins, users of another tenant, so a tenant-scoped key to
    # users could not hold them.
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("platform_admins.user_id", ondelete="SET NULL")
    )


class NotificationChannel(TenantOwned, Timestamps, Base):
    """Where notifications go: a Slack webhook, an email address or a generic webhook."""

    __tablename__ = "notification_channels"
    __extra_args__ = (enum_check("channel_type", CHANNEL_TYPES),)

    channel_type: Mapped[str] = mapped_column(String(20))
    #: Non-secret settings only; anything secret goes to secrets_encrypted.
    config: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    #: Channel credentials (tokenised webhook URLs, SMTP passwords), encrypted at rest.
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    is_enabled: Mapped[bool] = mapped_column(server_default=text("true"))


class NotificationRule(TenantOwned, Timestamps, Base):
    """Which channels an event (e.g. deployment.completed, drift.detected) is sent to."""

    __tablename__ = "notification_rules"
    __extra_args__ = (
        Index("ix_notification_rules_tenant_id_event_type", "tenant_id", "event_type"),
    )

    #: Free text: new event names appear with new features.
    event_type: Mapped[str] = mapped_column(String(100))
    #: notification_channels ids; a JSON list cannot carry foreign keys, so the service
    #: drops ids of deleted channels when it reads the rule.
    channel_ids: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    is_enabled: Mapped[bool] = mapped_column(server_default=text("true"))


class NotificationEvent(TenantOwned, CreatedAt, Base):
    """Something that happened which notification rules may deliver (drift.detected,
    deployment.completed, ...): recorded in the transaction of the change it reports."""

    __tablename__ = "notification_events"
    __extra_args__ = (
        # The event list (newest first) and the tenant's stream read this index.
        Index("ix_notification_events_tenant_id_created_at", "tenant_id", "created_at", "id"),
        Index(
            "ix_notification_events_tenant_id_event_type_created_at",
            "tenant_id",
            "event_type",
            "created_at",
        ),
        # An event that must happen once (a TTL warning per incident) names itself.
        Index(
            "uq_notification_events_tenant_id_dedupe_key",
            "tenant_id",
            "dedupe_key",
            unique=True,
            postgresql_where=text("dedupe_key IS NOT NULL"),
        ),
        # A live stream's replay after a reconnect (migration i15_live).
        Index("ix_notification_events_tenant_id_live_seq", "tenant_id", "live_seq"),
        # The delivery's scan of what is still to send.
        Index(
            "ix_notification_events_undelivered",
            "created_at",
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    event_type: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str | None] = mapped_column(String(50))
    resource_id: Mapped[str | None] = mapped_column(Text)
    #: What a message needs to say; ids and names, never secrets.
    payload: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    delivered_at: Mapped[datetime | None]
    #: Its number in the live streams, set by a trigger (see services/live.py).
    live_seq: Mapped[int | None] = mapped_column(BigInteger)


class LiveWatch(TenantOwned, Base):
    """A tenant someone follows live: while ``watched_until`` is ahead, the live triggers
    announce its changes (migration i13f_live_watches); web processes with open streams keep
    it ahead (services/live.py)."""

    __tablename__ = "live_watches"
    __extra_args__ = (UniqueConstraint("tenant_id"),)

    watched_until: Mapped[datetime]
