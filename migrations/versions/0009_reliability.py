"""Nothing lost, nothing stuck: durable retry backoff, attempt history and exactly-once effects
on jobs; the relay's scan of sent-but-not-started jobs; execution ids n8n's listing skipped;
credential references kept whatever a workflow's size; credential health that tells unknown
and authentication failures apart; the connection_check job kind.

Revision ID: 0009_reliability
Revises: 0011b_drift
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import create_definer_function, drop_definer_function, roles

revision = "0009_reliability"
down_revision = "0011b_drift"
branch_labels = None
depends_on = None

OLD_JOB_TYPES = (
    "sync",
    "promotion",
    "deployment",
    "onboarding",
    "execution_ingestion",
    "credential_sync",
    "credential_health",
    "environment_heartbeat",
    "drift_check",
    "retention_purge",
    "healthcheck",
    "noop",
    "git_attach",
    "canonical_onboarding",
    "repo_sync",
    "workflow_backup",
    "workflow_restore",
    "workflow_manage",
    "workflow_rehash",
    "drift_revert",
    "drift_keep_hotfix",
    "drift_ttl",
    "drift_retention",
)
JOB_TYPES = (*OLD_JOB_TYPES, "connection_check")
OLD_HEALTH_STATUSES = ("healthy", "warning", "error")
HEALTH_STATUSES = ("unknown", "healthy", "warning", "auth_error", "error")

_OLD_RELAY = (
    "jobs_unenqueued(p_older_than_s double precision, p_stale_after_s double precision,"
    " p_limit integer)"
)
OLD_RELAY_BODY = """
    RETURNS TABLE (id uuid, tenant_id uuid)
    LANGUAGE sql STABLE AS $$
        SELECT id, tenant_id FROM background_jobs
        WHERE status = 'pending'
          AND ((enqueued_at IS NULL
                AND created_at < now() - make_interval(secs => p_older_than_s))
               OR enqueued_at < now() - make_interval(secs => p_stale_after_s))
        ORDER BY created_at LIMIT p_limit
    $$"""

DEFINER_FUNCTIONS = {
    # The outbox relay: pending jobs due (not_before passed) but never handed to the broker.
    "jobs_unenqueued(p_older_than_s double precision, p_limit integer)": """
        RETURNS TABLE (id uuid, tenant_id uuid)
        LANGUAGE sql STABLE AS $$
            SELECT id, tenant_id FROM background_jobs
            WHERE status = 'pending' AND enqueued_at IS NULL
              AND not_before < now() - make_interval(secs => p_older_than_s)
            ORDER BY not_before LIMIT p_limit
        $$""",
    # The relay's broker check: pending jobs whose message went out a while ago, in
    # (enqueued_at, id) order after a position, so a run can go on where the last one stopped.
    (
        "jobs_sent_pending(p_older_than_s double precision, p_after_at timestamptz,"
        " p_after_id uuid, p_limit integer)"
    ): """
        RETURNS TABLE (id uuid, tenant_id uuid, queue_name text, message_id text,
                       enqueued_at timestamptz)
        LANGUAGE sql STABLE AS $$
            SELECT id, tenant_id, queue_name, message_id, enqueued_at FROM background_jobs
            WHERE status = 'pending' AND enqueued_at IS NOT NULL
              AND enqueued_at < now() - make_interval(secs => p_older_than_s)
              AND (enqueued_at, id) > (p_after_at, p_after_id)
            ORDER BY enqueued_at, id LIMIT p_limit
        $$""",
}

#: Every credential reference of a cached definition's nodes, as sync now records them.
BACKFILL_CREDENTIAL_REFS = """
    UPDATE workflow_env_map m SET credential_refs = coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', ref.value ->> 'id', 'type', ref.key,
                                            'name', ref.value ->> 'name',
                                            'node', node ->> 'name'))
          FROM jsonb_array_elements(CASE jsonb_typeof(m.workflow_data -> 'nodes')
               WHEN 'array' THEN m.workflow_data -> 'nodes' ELSE '[]' END) AS node
         CROSS JOIN LATERAL jsonb_each(CASE jsonb_typeof(node -> 'credentials')
               WHEN 'object' THEN node -> 'credentials' ELSE '{}' END) AS ref
         WHERE jsonb_typeof(ref.value) = 'object' AND coalesce(ref.value ->> 'id', '') <> ''
    ), '[]'::jsonb)
    WHERE m.workflow_data IS NOT NULL
"""


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _replace_check(table: str, column: str, values: tuple[str, ...]) -> None:
    name = op.f(f"ck_{table}_{column}_values")
    op.drop_constraint(name, table, type_="check")
    op.create_check_constraint(name, table, sa.text(f"{column} IN ({_quoted(values)})"))


def _as_owner_across_tenants(statement: str, table: str) -> None:
    """Run a data migration over every tenant's rows: FORCE'd row-level security applies to
    the owner too, so it is lifted for this statement only."""
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(statement)
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def upgrade() -> None:
    op.add_column(
        "background_jobs",
        sa.Column(
            "not_before", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.add_column(
        "background_jobs",
        sa.Column(
            "attempts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "background_jobs",
        sa.Column(
            "effects",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.drop_index(
        "ix_background_jobs_unenqueued",
        table_name="background_jobs",
        postgresql_where=sa.text("status = 'pending' AND enqueued_at IS NULL"),
    )
    op.create_index(
        "ix_background_jobs_unenqueued",
        "background_jobs",
        ["not_before"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND enqueued_at IS NULL"),
    )
    op.create_index(
        "ix_background_jobs_pending_enqueued",
        "background_jobs",
        ["enqueued_at", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND enqueued_at IS NOT NULL"),
    )
    _replace_check("background_jobs", "job_type", JOB_TYPES)
    _replace_check("credential_health", "status", HEALTH_STATUSES)

    op.add_column(
        "workflow_env_map",
        sa.Column(
            "credential_refs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    _as_owner_across_tenants(BACKFILL_CREDENTIAL_REFS, "workflow_env_map")

    op.create_index(
        "ix_executions_unnamed",
        "executions",
        ["tenant_id", "environment_id", "workflow_id"],
        unique=False,
        postgresql_where=sa.text("workflow_name IS NULL"),
    )
    op.create_table(
        "execution_gaps",
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("n8n_execution_id", sa.Text(), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_execution_gaps_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_execution_gaps_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_gaps")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_execution_gaps_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "n8n_execution_id",
            name=op.f("uq_execution_gaps_tenant_id_environment_id_n8n_execution_id"),
        ),
    )
    op.create_index(
        op.f("ix_execution_gaps_tenant_id"), "execution_gaps", ["tenant_id"], unique=False
    )
    app, _ = roles()
    predicate = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    op.execute("ALTER TABLE execution_gaps ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE execution_gaps FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON execution_gaps"
        f" USING ({predicate}) WITH CHECK ({predicate})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON execution_gaps TO {app}")

    drop_definer_function(_OLD_RELAY)
    for signature, body in DEFINER_FUNCTIONS.items():
        create_definer_function(signature, body)


def downgrade() -> None:
    for signature in DEFINER_FUNCTIONS:
        drop_definer_function(signature)
    create_definer_function(_OLD_RELAY, OLD_RELAY_BODY)

    op.drop_table("execution_gaps")
    op.drop_index(
        "ix_executions_unnamed",
        table_name="executions",
        postgresql_where=sa.text("workflow_name IS NULL"),
    )
    op.drop_column("workflow_env_map", "credential_refs")

    _as_owner_across_tenants(
        "UPDATE credential_health SET status = CASE status WHEN 'auth_error' THEN 'error'"
        " ELSE 'healthy' END WHERE status IN ('unknown', 'auth_error')",
        "credential_health",
    )
    _replace_check("credential_health", "status", OLD_HEALTH_STATUSES)
    _as_owner_across_tenants(
        "DELETE FROM background_jobs WHERE job_type = 'connection_check'", "background_jobs"
    )
    _replace_check("background_jobs", "job_type", OLD_JOB_TYPES)
    op.drop_index(
        "ix_background_jobs_pending_enqueued",
        table_name="background_jobs",
        postgresql_where=sa.text("status = 'pending' AND enqueued_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_background_jobs_unenqueued",
        table_name="background_jobs",
        postgresql_where=sa.text("status = 'pending' AND enqueued_at IS NULL"),
    )
    op.create_index(
        "ix_background_jobs_unenqueued",
        "background_jobs",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND enqueued_at IS NULL"),
    )
    op.drop_column("background_jobs", "effects")
    op.drop_column("background_jobs", "attempts")
    op.drop_column("background_jobs", "not_before")
