"""Costs that stay flat as data grows: indexes for listing jobs newest first and counting
them by status and kind from the index alone; hourly execution roll-ups (counts, a duration
histogram, the newest failure) for analytics over long windows, filled from the executions
already stored.

Revision ID: i13_perf
Revises: 0009_reliability
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import protect_tenant_table

revision = "i13_perf"
down_revision = "0009_reliability"
branch_labels = None
depends_on = None


#: Every stored execution's hour, aggregated as services/execution_rollups.py does it then.
BACKFILL_ROLLUPS = """
    WITH rows AS (
        SELECT tenant_id, environment_id, workflow_id, workflow_name, normalized_status,
               started_at, id, n8n_execution_id, error_message, error_node,
               date_bin('1 hour', started_at, TIMESTAMPTZ 'epoch') AS hour,
               floor(8 * log(2, execution_time + 1))::int AS bucket
          FROM executions WHERE started_at IS NOT NULL
    ), histograms AS (
        SELECT tenant_id, environment_id, workflow_id, hour, jsonb_object_agg(bucket, n) AS d
          FROM (SELECT tenant_id, environment_id, workflow_id, hour, bucket, count(*) AS n
                  FROM rows WHERE bucket IS NOT NULL
                 GROUP BY tenant_id, environment_id, workflow_id, hour, bucket) AS counted
         GROUP BY tenant_id, environment_id, workflow_id, hour
    ), failures AS (
        SELECT DISTINCT ON (tenant_id, environment_id, workflow_id, hour)
               tenant_id, environment_id, workflow_id, hour, started_at, id, n8n_execution_id,
               error_message, error_node
          FROM rows WHERE normalized_status = 'error'
         ORDER BY tenant_id, environment_id, workflow_id, hour, started_at DESC, id DESC
    )
    INSERT INTO execution_rollups (
        tenant_id, environment_id, workflow_id, hour, workflow_name, total, success, error,
        running, waiting, durations, last_failure_at, last_failure_id, last_failure_n8n_id,
        last_failure_message, last_failure_node)
    SELECT s.tenant_id, s.environment_id, s.workflow_id, s.hour, s.workflow_name, s.total,
           s.success, s.error, s.running, s.waiting, coalesce(h.d, '{}'::jsonb),
           f.started_at, f.id, f.n8n_execution_id, f.error_message, f.error_node
      FROM (SELECT tenant_id, environment_id, workflow_id, hour,
                   max(workflow_name) AS workflow_name, count(*) AS total,
                   count(*) FILTER (WHERE normalized_status = 'success') AS success,
                   count(*) FILTER (WHERE normalized_status = 'error') AS error,
                   count(*) FILTER (WHERE normalized_status = 'running') AS running,
                   count(*) FILTER (WHERE normalized_status = 'waiting') AS waiting
              FROM rows GROUP BY tenant_id, environment_id, workflow_id, hour) AS s
      LEFT JOIN histograms h USING (tenant_id, environment_id, workflow_id, hour)
      LEFT JOIN failures f USING (tenant_id, environment_id, workflow_id, hour)
"""


def upgrade() -> None:
    op.create_index(
        "ix_executions_failed",
        "executions",
        ["tenant_id", "environment_id", "started_at", "id"],
        postgresql_where=sa.text("normalized_status = 'error'"),
    )
    op.create_table(
        "execution_rollups",
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
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
            name=op.f("fk_execution_rollups_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_execution_rollups_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_rollups")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_execution_rollups_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "hour",
            "workflow_id",
            name=op.f("uq_execution_rollups_tenant_id_environment_id_hour_workflow_id"),
        ),
    )
    op.create_index(op.f("ix_execution_rollups_tenant_id"), "execution_rollups", ["tenant_id"])
    op.create_index(
        "ix_execution_rollups_tenant_id_environment_id_workflow_id_hour",
        "execution_rollups",
        ["tenant_id", "environment_id", "workflow_id", "hour"],
    )
    protect_tenant_table("execution_rollups")
    # FORCE'd row-level security applies to the owner too: lifted for the backfill only.
    for table in ("executions", "execution_rollups"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(BACKFILL_ROLLUPS)
    for table in ("executions", "execution_rollups"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.create_index(
        "ix_background_jobs_tenant_id_created_at_id",
        "background_jobs",
        ["tenant_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_background_jobs_tenant_id_status_job_type",
        "background_jobs",
        ["tenant_id", "status", "job_type"],
    )


def downgrade() -> None:
    op.drop_table("execution_rollups")
    op.drop_index("ix_executions_failed", "executions")
    op.drop_index("ix_background_jobs_tenant_id_status_job_type", "background_jobs")
    op.drop_index("ix_background_jobs_tenant_id_created_at_id", "background_jobs")
