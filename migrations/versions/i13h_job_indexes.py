"""Two index writes fewer in every job transition: background_jobs loses its lone tenant_id
index (every list index leads with tenant_id, and so does the tenant's cascade), and the
rerun_of_id index keeps only the jobs that are reruns.

Revision ID: i13h_job_indexes
Revises: i13g_finished_counts
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "i13h_job_indexes"
down_revision = "i13g_finished_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_background_jobs_tenant_id", table_name="background_jobs")
    op.drop_index("ix_background_jobs_rerun_of_id", table_name="background_jobs")
    op.create_index(
        "ix_background_jobs_rerun_of_id",
        "background_jobs",
        ["rerun_of_id"],
        postgresql_where=sa.text("rerun_of_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_background_jobs_rerun_of_id", table_name="background_jobs")
    op.create_index("ix_background_jobs_rerun_of_id", "background_jobs", ["rerun_of_id"])
    op.create_index("ix_background_jobs_tenant_id", "background_jobs", ["tenant_id"])
