"""Announce live changes only for tenants someone watches: a web process with an open stream
keeps its tenant's row in live_watches fresh, and the live triggers NOTIFY only while it is.
Every change is still numbered (live_seq), so replays after a reconnect are unchanged.

Why: a transaction that NOTIFYs takes PostgreSQL's one cluster-wide notification lock from
its pre-commit until its commit is flushed, so every job transition serialized on every
other's commit: 3x fewer claims and finishes per second with 8 worker threads on a busy
machine (bench/RESULTS.md), for announcements nobody was listening to.

Revision ID: i13f_live_watches
Revises: i13e_environment_days
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from migrations.helpers import protect_tenant_table
from migrations.versions.i15_live import EVENT_FUNCTION, JOB_FUNCTION

revision = "i13f_live_watches"
down_revision = "i13e_environment_days"
branch_labels = None
depends_on = None

#: Taking the transaction's id before looking for a watch: a stream that registers a watch
#: then waits for every transaction older than it (services/live.py) also waits for a change
#: whose look missed the watch.
WATCHED = """
    PERFORM pg_current_xact_id();
    IF EXISTS (SELECT 1 FROM live_watches
                WHERE tenant_id = NEW.tenant_id AND watched_until > statement_timestamp()) THEN
        PERFORM pg_notify("""


def _watched(function: str) -> str:
    """The i15_live trigger function with its NOTIFY only for a watched tenant."""
    notify, end = "\n    PERFORM pg_notify(", ")::text);\n    RETURN NEW;"
    assert notify in function and end in function, "i15_live's functions are frozen"
    body = function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    return body.replace(notify, WATCHED).replace(end, ")::text);\n    END IF;\n    RETURN NEW;")


def upgrade() -> None:
    op.create_table(
        "live_watches",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("watched_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_live_watches_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_live_watches"),
        sa.UniqueConstraint("id", "tenant_id", name="uq_live_watches_id_tenant_id"),
        sa.UniqueConstraint("tenant_id", name="uq_live_watches_tenant_id"),
    )
    op.create_index("ix_live_watches_tenant_id", "live_watches", ["tenant_id"])
    protect_tenant_table("live_watches")
    for function in (JOB_FUNCTION, EVENT_FUNCTION):
        op.execute(_watched(function))


def downgrade() -> None:
    for function in (JOB_FUNCTION, EVENT_FUNCTION):
        op.execute(function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.drop_table("live_watches")
