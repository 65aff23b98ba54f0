"""Notification events: what happened (drift detected, deployment completed...), recorded in
the transaction of the change, for the notifications and streams that deliver them.

Revision ID: 0011_events
Revises: 0010_git
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import protect_tenant_table

revision = "0011_events"
down_revision = "0010_git"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_events",
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=True),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notification_events_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_events")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_notification_events_id_tenant_id")),
    )
    op.create_index(op.f("ix_notification_events_tenant_id"), "notification_events", ["tenant_id"])
    op.create_index(
        "ix_notification_events_tenant_id_created_at",
        "notification_events",
        ["tenant_id", "created_at", "id"],
    )
    op.create_index(
        "ix_notification_events_tenant_id_event_type_created_at",
        "notification_events",
        ["tenant_id", "event_type", "created_at"],
    )
    op.create_index(
        "uq_notification_events_tenant_id_dedupe_key",
        "notification_events",
        ["tenant_id", "dedupe_key"],
        unique=True,
        postgresql_where=sa.text("dedupe_key IS NOT NULL"),
    )
    op.create_index(
        "ix_notification_events_undelivered",
        "notification_events",
        ["created_at"],
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    protect_tenant_table("notification_events")


def downgrade() -> None:
    op.drop_table("notification_events")
