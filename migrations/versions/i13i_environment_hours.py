"""Each environment's hour summed in one hourly roll-up row of its own (workflow_id ''), as
i13e_environment_days did for days: an environment-wide window reads at most 23 of them before
its first midnight instead of 23 per workflow (and expands as many histograms); filled here
from the workflows' hourly rows, kept by ingestion from now on (services/rollup_maintenance.py).

Revision ID: i13i_environment_hours
Revises: i13h_job_indexes
Create Date: 2026-12-02
"""

from migrations.helpers import across_tenants

revision = "i13i_environment_hours"
down_revision = "i13h_job_indexes"
branch_labels = None
depends_on = None

#: The environment rows from the workflows', as services/rollup_maintenance.py sums them.
BACKFILL = """
    WITH hours AS (
        SELECT * FROM execution_rollups WHERE workflow_id <> ''
    ), histograms AS (
        SELECT tenant_id, environment_id, hour, jsonb_object_agg(bucket, n) AS durations
          FROM (SELECT tenant_id, environment_id, hour, bucket.key AS bucket,
                       sum(bucket.value::int) AS n
                  FROM hours, jsonb_each_text(durations) AS bucket
                 GROUP BY tenant_id, environment_id, hour, bucket.key) AS counted
         GROUP BY tenant_id, environment_id, hour
    ), failures AS (
        SELECT DISTINCT ON (tenant_id, environment_id, hour) tenant_id, environment_id, hour,
               last_failure_at, last_failure_id, last_failure_n8n_id, last_failure_message,
               last_failure_node
          FROM hours WHERE last_failure_id IS NOT NULL
         ORDER BY tenant_id, environment_id, hour, last_failure_at DESC, last_failure_id DESC
    )
    INSERT INTO execution_rollups (
        tenant_id, environment_id, workflow_id, hour, workflow_name, total, success, error,
        running, waiting, durations, last_failure_at, last_failure_id, last_failure_n8n_id,
        last_failure_message, last_failure_node)
    SELECT s.tenant_id, s.environment_id, '', s.hour, s.workflow_name, s.total, s.success,
           s.error, s.running, s.waiting, coalesce(h.durations, '{}'::jsonb),
           f.last_failure_at, f.last_failure_id, f.last_failure_n8n_id,
           f.last_failure_message, f.last_failure_node
      FROM (SELECT tenant_id, environment_id, hour, max(workflow_name) AS workflow_name,
                   sum(total) AS total, sum(success) AS success, sum(error) AS error,
                   sum(running) AS running, sum(waiting) AS waiting
              FROM hours GROUP BY tenant_id, environment_id, hour) AS s
      LEFT JOIN histograms h USING (tenant_id, environment_id, hour)
      LEFT JOIN failures f USING (tenant_id, environment_id, hour)
"""


def upgrade() -> None:
    across_tenants(BACKFILL, "execution_rollups")


def downgrade() -> None:
    across_tenants("DELETE FROM execution_rollups WHERE workflow_id = ''", "execution_rollups")
