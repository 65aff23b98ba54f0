"""Environments meet n8n: connection health, version family, execution watermark, the cached
workflow fields sync keeps, credential sources; and the clock's scan of environments.

Revision ID: 0005_n8n_connection
Revises: 0004_job_core
Create Date: 2026-11-25 07:36:47.752262
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import create_definer_function, drop_definer_function, roles

revision = "0005_n8n_connection"
down_revision = "0004_job_core"
branch_labels = None
depends_on = None

CONNECTION_STATUSES = (
    "unknown",
    "healthy",
    "unreachable",
    "tls_error",
    "timeout",
    "unauthorized",
    "forbidden",
    "not_n8n",
    "refused_address",
    "error",
)
CHECKS = {
    ("environments", "connection_status"): CONNECTION_STATUSES,
    ("credentials", "source"): ("api", "workflows"),
    ("credential_health", "check_method"): ("test_endpoint", "executions"),
}

DEFINER_FUNCTIONS = {
    # The clock's scan: which environments exist, to start their scheduled jobs.
    "scheduled_environments()": """
        RETURNS TABLE (tenant_id uuid, environment_id uuid)
        LANGUAGE sql STABLE AS $$
            SELECT tenant_id, id FROM environments ORDER BY tenant_id, id
        $$""",
    # Key rotation walks every tenant; ids only.
    "all_tenant_ids()": """
        RETURNS SETOF uuid
        LANGUAGE sql STABLE AS $$
            SELECT id FROM tenants ORDER BY id
        $$""",
}


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.add_column(
        "credential_health",
        sa.Column(
            "check_method", sa.String(length=20), server_default="executions", nullable=False
        ),
    )
    op.add_column(
        "credentials",
        sa.Column("source", sa.String(length=20), server_default="workflows", nullable=False),
    )
    op.add_column(
        "environments", sa.Column("n8n_version_family", sa.String(length=10), nullable=True)
    )
    op.add_column(
        "environments",
        sa.Column(
            "connection_status", sa.String(length=20), server_default="unknown", nullable=False
        ),
    )
    op.add_column(
        "environments",
        sa.Column("connection_checked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("environments", sa.Column("connection_error", sa.Text(), nullable=True))
    op.add_column(
        "environments",
        sa.Column(
            "consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
    )
    op.add_column("environments", sa.Column("execution_watermark", sa.Text(), nullable=True))
    op.add_column(
        "environments",
        sa.Column("last_execution_sync_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "environments",
        sa.Column("last_credential_sync_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("executions", sa.Column("retry_of", sa.Text(), nullable=True))
    op.create_index(
        "ix_executions_unfinished",
        "executions",
        ["tenant_id", "environment_id"],
        unique=False,
        postgresql_where=sa.text("normalized_status IN ('running', 'waiting')"),
    )
    op.add_column("workflow_env_map", sa.Column("workflow_data_bytes", sa.Integer(), nullable=True))
    op.add_column(
        "workflow_env_map",
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "workflow_env_map",
        sa.Column("is_archived", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "workflow_env_map",
        sa.Column(
            "tags",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "workflow_env_map", sa.Column("missing_since", sa.DateTime(timezone=True), nullable=True)
    )

    for (table, column), values in CHECKS.items():
        op.create_check_constraint(
            op.f(f"ck_{table}_{column}_values"), table, sa.text(f"{column} IN ({_quoted(values)})")
        )
    _, definer = roles()
    op.execute(f"GRANT SELECT ON environments TO {definer}")
    for signature, body in DEFINER_FUNCTIONS.items():
        create_definer_function(signature, body)


def downgrade() -> None:
    for signature in DEFINER_FUNCTIONS:
        drop_definer_function(signature)
    _, definer = roles()
    op.execute(f"REVOKE ALL ON environments FROM {definer}")
    for table, column in CHECKS:
        op.drop_constraint(op.f(f"ck_{table}_{column}_values"), table, type_="check")
    op.drop_column("workflow_env_map", "missing_since")
    op.drop_column("workflow_env_map", "tags")
    op.drop_column("workflow_env_map", "is_archived")
    op.drop_column("workflow_env_map", "is_active")
    op.drop_column("workflow_env_map", "workflow_data_bytes")
    op.drop_index(
        "ix_executions_unfinished",
        table_name="executions",
        postgresql_where=sa.text("normalized_status IN ('running', 'waiting')"),
    )
    op.drop_column("executions", "retry_of")
    op.drop_column("environments", "last_credential_sync_at")
    op.drop_column("environments", "last_execution_sync_at")
    op.drop_column("environments", "execution_watermark")
    op.drop_column("environments", "consecutive_failures")
    op.drop_column("environments", "connection_error")
    op.drop_column("environments", "connection_checked_at")
    op.drop_column("environments", "connection_status")
    op.drop_column("environments", "n8n_version_family")
    op.drop_column("credentials", "source")
    op.drop_column("credential_health", "check_method")
