"""Daily execution roll-ups (execution_daily_rollups, the hourly table's columns per UTC day),
so a 90-day window reads 90 rows a workflow instead of 2,160; filled from the hourly rows
already stored. Both roll-up tables leave room on their pages for updated versions.

Revision ID: i13a_rollups
Revises: i15c_memberships
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import protect_tenant_table

revision = "i13a_rollups"
down_revision = "i15c_memberships"
branch_labels = None
depends_on = None

#: Percent of a roll-up table's pages filled by inserts (the rest is for updated versions).
ROLLUP_FILLFACTOR = 40

#: Every day of the stored hours, aggregated as services/execution_rollups.py does it then.
BACKFILL_DAYS = """
    WITH hours AS (
        SELECT *, date_bin('1 day', hour, TIMESTAMPTZ 'epoch') AS day FROM execution_rollups
    ), histograms AS (
        SELECT tenant_id, environment_id, workflow_id, day, jsonb_object_agg(bucket, n) AS d
          FROM (SELECT tenant_id, environment_id, workflow_id, day, bucket.key AS bucket,
                       sum(bucket.value::int) AS n
                  FROM hours, jsonb_each_text(durations) AS bucket
                 GROUP BY tenant_id, environment_id, workflow_id, day, bucket.key) AS counted
         GROUP BY tenant_id, environment_id, workflow_id, day
    ), failures AS (
        SELECT DISTINCT ON (tenant_id, environment_id, workflow_id, day)
               tenant_id, environment_id, workflow_id, day, last_failure_at, last_failure_id,
               last_failure_n8n_id, last_failure_message, last_failure_node
          FROM hours WHERE last_failure_id IS NOT NULL
         ORDER BY tenant_id, environment_id, workflow_id, day, last_failure_at DESC,
                  last_failure_id DESC
    )
    INSERT INTO execution_daily_rollups (
        tenant_id, environment_id, workflow_id, day, workflow_name, total, success, error,
        running, waiting, durations, last_failure_at, last_failure_id, last_failure_n8n_id,
        last_failure_message, last_failure_node)
    SELECT s.tenant_id, s.environment_id, s.workflow_id, s.day, s.workflow_name, s.total,
           s.success, s.error, s.running, s.waiting, coalesce(h.d, '{}'::jsonb),
           f.last_failure_at, f.last_failure_id, f.last_failure_n8n_id,
           f.last_failure_message, f.last_failure_node
      FROM (SELECT tenant_id, environment_id, workflow_id, day,
                   max(workflow_name) AS workflow_name, sum(total) AS total,
                   sum(success) AS success, sum(error) AS error, sum(running) AS running,
                   sum(waiting) AS waiting
              FROM hours GROUP BY tenant_id, environment_id, workflow_id, day) AS s
      LEFT JOIN histograms h USING (tenant_id, environment_id, workflow_id, day)
      LEFT JOIN failures f USING (tenant_id, environment_id, workflow_id, day)
"""


def upgrade() -> None:
    op.create_table(
        "execution_daily_rollups",
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
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
            name=op.f("fk_execution_daily_rollups_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_execution_daily_rollups_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_daily_rollups")),
        sa.UniqueConstraint(
            "id", "tenant_id", name=op.f("uq_execution_daily_rollups_id_tenant_id")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "day",
            "workflow_id",
            name="uq_execution_daily_rollups_day",
        ),
    )
    op.create_index(
        op.f("ix_execution_daily_rollups_tenant_id"), "execution_daily_rollups", ["tenant_id"]
    )
    op.create_index(
        "ix_execution_daily_rollups_workflow_day",
        "execution_daily_rollups",
        ["tenant_id", "environment_id", "workflow_id", "day"],
    )
    protect_tenant_table("execution_daily_rollups")
    # Every page of an ingestion run updates the same rows (its workflows' hour and day): with
    # room left on each page the new versions stay there (HOT: no index entries, no new page).
    for table in ("execution_rollups", "execution_daily_rollups"):
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {ROLLUP_FILLFACTOR})")
    # FORCE'd row-level security applies to the owner too: lifted for the backfill only.
    for table in ("execution_rollups", "execution_daily_rollups"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(BACKFILL_DAYS)
    for table in ("execution_rollups", "execution_daily_rollups"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.drop_table("execution_daily_rollups")
    op.execute("ALTER TABLE execution_rollups RESET (fillfactor)")
