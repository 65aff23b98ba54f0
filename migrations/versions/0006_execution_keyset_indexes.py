"""Executions are listed newest first by keyset (started_at, id): the indexes carry id so a
page is a range scan, and a tenant-wide listing gets its own.

Revision ID: 0006_execution_keyset_indexes
Revises: 0005_n8n_connection
Create Date: 2026-11-25 07:58:16.973182
"""

from alembic import op

revision = "0006_execution_keyset_indexes"
down_revision = "0005_n8n_connection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(
        op.f("ix_executions_tenant_id_environment_id_started_at"), table_name="executions"
    )
    op.create_index(
        "ix_executions_tenant_id_environment_id_started_at",
        "executions",
        ["tenant_id", "environment_id", "started_at", "id"],
        unique=False,
    )
    op.drop_index(op.f("ix_executions_tenant_id_workflow_id_started_at"), table_name="executions")
    op.create_index(
        "ix_executions_tenant_id_workflow_id_started_at",
        "executions",
        ["tenant_id", "workflow_id", "started_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_executions_tenant_id_started_at",
        "executions",
        ["tenant_id", "started_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_executions_tenant_id_started_at", table_name="executions")
    op.drop_index("ix_executions_tenant_id_workflow_id_started_at", table_name="executions")
    op.create_index(
        op.f("ix_executions_tenant_id_workflow_id_started_at"),
        "executions",
        ["tenant_id", "workflow_id", "started_at"],
        unique=False,
    )
    op.drop_index("ix_executions_tenant_id_environment_id_started_at", table_name="executions")
    op.create_index(
        op.f("ix_executions_tenant_id_environment_id_started_at"),
        "executions",
        ["tenant_id", "environment_id", "started_at"],
        unique=False,
    )
