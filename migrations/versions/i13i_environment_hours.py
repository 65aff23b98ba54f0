"""Each environment's hour summed in one hourly roll-up row of its own (workflow_id ''), as
i13e_environment_days did for days: an environment-wide window reads at most 23 of them before
its first midnight instead of 23 per workflow (and expands as many histograms); filled here
from the workflows' hourly rows, kept by ingestion from now on (services/rollup_maintenance.py).

Revision ID: i13i_environment_hours
Revises: i13h_job_indexes
Create Date: 2026-12-02
"""

from migrations.helpers import across_tenants
from migrations.versions import i13e_environment_days

revision = "i13i_environment_hours"
down_revision = "i13h_job_indexes"
branch_labels = None
depends_on = None

#: The environment rows from the workflows' hourly rows: i13e's statement for days, read per
#: hour (that migration is frozen, so this one stays as it was written).
BACKFILL = (
    i13e_environment_days.BACKFILL.replace("execution_daily_rollups", "execution_rollups")
    .replace("days", "hours")
    .replace("day", "hour")
)


def upgrade() -> None:
    across_tenants(BACKFILL, "execution_rollups")


def downgrade() -> None:
    across_tenants("DELETE FROM execution_rollups WHERE workflow_id = ''", "execution_rollups")
