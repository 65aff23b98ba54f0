"""Weekly execution roll-ups (execution_weekly_rollups, the daily table's columns per seven
days from the epoch, a Thursday), so a 90-day window reads about 13 weeks and a few days a
workflow instead of 90 days: the per-workflow 90-day analytics merged 115 histograms a
workflow and took 76 ms at 1,000,000 executions a tenant. Filled here from the daily rows
already stored (the environment's own rows among them), kept by ingestion from now on
(services/rollup_maintenance.py).

Revision ID: i13j_weekly_rollups
Revises: i13i_environment_hours
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import across_tenants, protect_tenant_table
from migrations.versions import i13a_rollups

revision = "i13j_weekly_rollups"
down_revision = "i13i_environment_hours"
branch_labels = None
depends_on = None

#: Every week of the stored days: i13a's statement for days from hours, one level up (that
#: migration is frozen, so this one stays as it was written).
BACKFILL = (
    i13a_rollups.BACKFILL_DAYS.replace("execution_daily_rollups", "execution_weekly_rollups")
    .replace("day", "week")
    .replace("hour", "day")
    .replace("execution_rollups", "execution_daily_rollups")
)


def upgrade() -> None:
    op.create_table(
        "execution_weekly_rollups",
        sa.Column("week", sa.DateTime(timezone=True), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("workflow_name", sa.Text(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("success", sa.Integer(), nullable=False),
        sa.Column("error", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column(
            "durations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_id", sa.Uuid(), nullable=True),
        sa.Column("last_failure_n8n_id", sa.Text(), nullable=True),
        sa.Column("last_failure_message", sa.Text(), nullable=True),
        sa.Column("last_failure_node", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_execution_weekly_rollups_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_execution_weekly_rollups_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_weekly_rollups")),
        sa.UniqueConstraint(
            "id", "tenant_id", name=op.f("uq_execution_weekly_rollups_id_tenant_id")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "week",
            "workflow_id",
            name="uq_execution_weekly_rollups_week",
        ),
        postgresql_with={"fillfactor": i13a_rollups.ROLLUP_FILLFACTOR},
    )
    op.create_index(
        op.f("ix_execution_weekly_rollups_tenant_id"), "execution_weekly_rollups", ["tenant_id"]
    )
    op.create_index(
        "ix_execution_weekly_rollups_workflow_week",
        "execution_weekly_rollups",
        ["tenant_id", "environment_id", "workflow_id", "week"],
    )
    protect_tenant_table("execution_weekly_rollups")
    across_tenants(BACKFILL, "execution_daily_rollups", "execution_weekly_rollups")


def downgrade() -> None:
    op.drop_table("execution_weekly_rollups")
