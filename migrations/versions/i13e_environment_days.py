"""Each environment's day summed in one daily roll-up row of its own (workflow_id ''), so an
environment-wide 90-day window reads 90 rows instead of 90 per workflow (and expands 90
histograms, not thousands); filled here from the workflows' daily rows, kept by ingestion from
now on (services/rollup_maintenance.py).

Revision ID: i13e_environment_days
Revises: i13d_counts
Create Date: 2026-12-02
"""

from migrations.helpers import across_tenants

revision = "i13e_environment_days"
down_revision = "i13d_counts"
branch_labels = None
depends_on = None

#: The environment rows from the workflows', as services/rollup_maintenance.py sums them.
BACKFILL = """
    WITH days AS (
        SELECT * FROM execution_daily_rollups WHERE workflow_id <> ''
    ), histograms AS (
        SELECT tenant_id, environment_id, day, jsonb_object_agg(bucket, n) AS durations
          FROM (SELECT tenant_id, environment_id, day, bucket.key AS bucket,
                       sum(bucket.value::int) AS n
                  FROM days, jsonb_each_text(durations) AS bucket
                 GROUP BY tenant_id, environment_id, day, bucket.key) AS counted
         GROUP BY tenant_id, environment_id, day
    ), failures AS (
        SELECT DISTINCT ON (tenant_id, environment_id, day) tenant_id, environment_id, day,
               last_failure_at, last_failure_id, last_failure_n8n_id, last_failure_message,
               last_failure_node
          FROM days WHERE last_failure_id IS NOT NULL
         ORDER BY tenant_id, environment_id, day, last_failure_at DESC, last_failure_id DESC
    )
    INSERT INTO execution_daily_rollups (
        tenant_id, environment_id, workflow_id, day, workflow_name, total, success, error,
        running, waiting, durations, last_failure_at, last_failure_id, last_failure_n8n_id,
        last_failure_message, last_failure_node)
    SELECT s.tenant_id, s.environment_id, '', s.day, s.workflow_name, s.total, s.success,
           s.error, s.running, s.waiting, coalesce(h.durations, '{}'::jsonb),
           f.last_failure_at, f.last_failure_id, f.last_failure_n8n_id,
           f.last_failure_message, f.last_failure_node
      FROM (SELECT tenant_id, environment_id, day, max(workflow_name) AS workflow_name,
                   sum(total) AS total, sum(success) AS success, sum(error) AS error,
                   sum(running) AS running, sum(waiting) AS waiting
              FROM days GROUP BY tenant_id, environment_id, day) AS s
      LEFT JOIN histograms h USING (tenant_id, environment_id, day)
      LEFT JOIN failures f USING (tenant_id, environment_id, day)
"""


def upgrade() -> None:
    across_tenants(BACKFILL, "execution_daily_rollups")


def downgrade() -> None:
    across_tenants(
        "DELETE FROM execution_daily_rollups WHERE workflow_id = ''", "execution_daily_rollups"
    )
