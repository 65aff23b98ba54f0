"""Indexes for listing and counting jobs as the table grows: newest first per tenant, and
counts by status and kind from the index alone.

Revision ID: i13_perf
Revises: 0009_reliability
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "i13_perf"
down_revision = "0009_reliability"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    op.drop_index("ix_background_jobs_tenant_id_status_job_type", "background_jobs")
    op.drop_index("ix_background_jobs_tenant_id_created_at_id", "background_jobs")
