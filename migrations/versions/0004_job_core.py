"""The job core: background_jobs as source of truth and outbox, plus the clock's two scans.

The relay and the reaper run in the clock before any tenant is known; each reads only the
columns it needs through a SECURITY DEFINER function, then acts per job as that job's tenant.

Revision ID: 0004_job_core
Revises: 0003_seed_plans
Create Date: 2026-11-25 07:27:22.376568
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import create_definer_function, drop_definer_function, roles

revision = "0004_job_core"
down_revision = "0003_seed_plans"
branch_labels = None
depends_on = None

OLD_JOB_TYPES = ("sync", "promotion", "deployment", "onboarding")
JOB_TYPES = (
    *OLD_JOB_TYPES,
    "execution_ingestion",
    "credential_sync",
    "credential_health",
    "environment_heartbeat",
    "drift_check",
    "retention_purge",
    "healthcheck",
    "noop",
)
TRIGGERS = ("user", "schedule", "rerun", "system")

DEFINER_FUNCTIONS = {
    # The outbox relay: rows committed as pending but never handed to the broker.
    "jobs_unenqueued(p_older_than_s double precision, p_limit integer)": """
        RETURNS TABLE (id uuid, tenant_id uuid)
        LANGUAGE sql STABLE AS $$
            SELECT id, tenant_id FROM background_jobs
            WHERE status = 'pending' AND enqueued_at IS NULL
              AND created_at < now() - make_interval(secs => p_older_than_s)
            ORDER BY created_at LIMIT p_limit
        $$""",
    # The reaper: running jobs whose worker stopped sending heartbeats.
    "jobs_stale(p_older_than_s double precision, p_limit integer)": """
        RETURNS TABLE (id uuid, tenant_id uuid, job_type text, heartbeat_at timestamptz,
                       attempt integer, max_attempts integer)
        LANGUAGE sql STABLE AS $$
            SELECT id, tenant_id, job_type, heartbeat_at, attempt, max_attempts
            FROM background_jobs
            WHERE status = 'running'
              AND heartbeat_at < now() - make_interval(secs => p_older_than_s)
            ORDER BY heartbeat_at LIMIT p_limit
        $$""",
}


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.add_column(
        "background_jobs",
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "background_jobs",
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("background_jobs", sa.Column("error_class", sa.String(length=200), nullable=True))
    op.add_column("background_jobs", sa.Column("error_message", sa.Text(), nullable=True))
    op.add_column("background_jobs", sa.Column("error_traceback", sa.Text(), nullable=True))
    op.add_column(
        "background_jobs",
        sa.Column("attempt", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "background_jobs",
        sa.Column("max_attempts", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )
    op.add_column(
        "background_jobs",
        sa.Column("queue_name", sa.String(length=50), server_default="default", nullable=False),
    )
    op.alter_column("background_jobs", "queue_name", server_default=None)
    op.add_column(
        "background_jobs",
        sa.Column("actor_name", sa.String(length=100), server_default="default", nullable=False),
    )
    op.alter_column("background_jobs", "actor_name", server_default=None)
    op.add_column("background_jobs", sa.Column("message_id", sa.String(length=64), nullable=True))
    op.add_column("background_jobs", sa.Column("rerun_of_id", sa.Uuid(), nullable=True))
    op.add_column(
        "background_jobs", sa.Column("idempotency_key", sa.String(length=255), nullable=True)
    )
    op.add_column(
        "background_jobs", sa.Column("concurrency_key", sa.String(length=255), nullable=True)
    )
    op.add_column(
        "background_jobs", sa.Column("schedule_key", sa.String(length=255), nullable=True)
    )
    op.add_column(
        "background_jobs", sa.Column("scheduled_slot", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "background_jobs",
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("background_jobs", sa.Column("lease_token", sa.Uuid(), nullable=True))
    op.add_column(
        "background_jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "background_jobs",
        sa.Column("triggered_by", sa.String(length=20), server_default="user", nullable=False),
    )
    op.add_column("background_jobs", sa.Column("triggered_by_user_id", sa.Uuid(), nullable=True))
    op.add_column(
        "background_jobs", sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_background_jobs_rerun_of_id", "background_jobs", ["rerun_of_id"], unique=False
    )
    op.create_index(
        "ix_background_jobs_running_heartbeat",
        "background_jobs",
        ["heartbeat_at"],
        unique=False,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ix_background_jobs_tenant_id_job_type_created_at",
        "background_jobs",
        ["tenant_id", "job_type", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_background_jobs_tenant_id_resource_type_resource_id",
        "background_jobs",
        ["tenant_id", "resource_type", "resource_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_background_jobs_unenqueued",
        "background_jobs",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND enqueued_at IS NULL"),
    )
    op.create_index(
        "uq_background_jobs_tenant_id_concurrency_key_active",
        "background_jobs",
        ["tenant_id", "concurrency_key"],
        unique=True,
        postgresql_where=sa.text(
            "concurrency_key IS NOT NULL AND status IN ('pending', 'running')"
        ),
    )
    op.create_index(
        "uq_background_jobs_tenant_id_idempotency_key",
        "background_jobs",
        ["tenant_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(
        "uq_background_jobs_tenant_id_schedule_key_slot",
        "background_jobs",
        ["tenant_id", "schedule_key", "scheduled_slot"],
        unique=True,
        postgresql_where=sa.text("schedule_key IS NOT NULL"),
    )
    op.create_foreign_key(
        op.f("fk_background_jobs_triggered_by_user_id"),
        "background_jobs",
        "users",
        ["triggered_by_user_id", "tenant_id"],
        ["id", "tenant_id"],
        ondelete="SET NULL (triggered_by_user_id)",
    )
    op.create_foreign_key(
        op.f("fk_background_jobs_rerun_of_id"),
        "background_jobs",
        "background_jobs",
        ["rerun_of_id", "tenant_id"],
        ["id", "tenant_id"],
        ondelete="SET NULL (rerun_of_id)",
    )
    # Failed and cancelled jobs finish too: completed_at becomes finished_at.
    op.alter_column("background_jobs", "completed_at", new_column_name="finished_at")
    op.drop_constraint(op.f("ck_background_jobs_job_type_values"), "background_jobs", type_="check")
    op.create_check_constraint(
        op.f("ck_background_jobs_job_type_values"),
        "background_jobs",
        sa.text(f"job_type IN ({_quoted(JOB_TYPES)})"),
    )
    op.create_check_constraint(
        op.f("ck_background_jobs_triggered_by_values"),
        "background_jobs",
        sa.text(f"triggered_by IN ({_quoted(TRIGGERS)})"),
    )
    for signature, body in DEFINER_FUNCTIONS.items():
        create_definer_function(signature, body)
    _, definer = roles()
    op.execute(f"GRANT SELECT ON background_jobs TO {definer}")


def downgrade() -> None:
    _, definer = roles()
    op.execute(f"REVOKE ALL ON background_jobs FROM {definer}")
    for signature in DEFINER_FUNCTIONS:
        drop_definer_function(signature)
    op.drop_constraint(
        op.f("ck_background_jobs_triggered_by_values"), "background_jobs", type_="check"
    )
    op.drop_constraint(op.f("ck_background_jobs_job_type_values"), "background_jobs", type_="check")
    op.create_check_constraint(
        op.f("ck_background_jobs_job_type_values"),
        "background_jobs",
        sa.text(f"job_type IN ({_quoted(OLD_JOB_TYPES)})"),
    )
    op.alter_column("background_jobs", "finished_at", new_column_name="completed_at")
    op.drop_constraint(
        op.f("fk_background_jobs_rerun_of_id"), "background_jobs", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_background_jobs_triggered_by_user_id"), "background_jobs", type_="foreignkey"
    )
    op.drop_index(
        "uq_background_jobs_tenant_id_schedule_key_slot",
        table_name="background_jobs",
        postgresql_where=sa.text("schedule_key IS NOT NULL"),
    )
    op.drop_index(
        "uq_background_jobs_tenant_id_idempotency_key",
        table_name="background_jobs",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.drop_index(
        "uq_background_jobs_tenant_id_concurrency_key_active",
        table_name="background_jobs",
        postgresql_where=sa.text(
            "concurrency_key IS NOT NULL AND status IN ('pending', 'running')"
        ),
    )
    op.drop_index(
        "ix_background_jobs_unenqueued",
        table_name="background_jobs",
        postgresql_where=sa.text("status = 'pending' AND enqueued_at IS NULL"),
    )
    op.drop_index(
        "ix_background_jobs_tenant_id_resource_type_resource_id", table_name="background_jobs"
    )
    op.drop_index("ix_background_jobs_tenant_id_job_type_created_at", table_name="background_jobs")
    op.drop_index(
        "ix_background_jobs_running_heartbeat",
        table_name="background_jobs",
        postgresql_where=sa.text("status = 'running'"),
    )
    op.drop_index("ix_background_jobs_rerun_of_id", table_name="background_jobs")
    op.drop_column("background_jobs", "enqueued_at")
    op.drop_column("background_jobs", "triggered_by_user_id")
    op.drop_column("background_jobs", "triggered_by")
    op.drop_column("background_jobs", "heartbeat_at")
    op.drop_column("background_jobs", "lease_token")
    op.drop_column("background_jobs", "cancel_requested_at")
    op.drop_column("background_jobs", "scheduled_slot")
    op.drop_column("background_jobs", "schedule_key")
    op.drop_column("background_jobs", "concurrency_key")
    op.drop_column("background_jobs", "idempotency_key")
    op.drop_column("background_jobs", "rerun_of_id")
    op.drop_column("background_jobs", "message_id")
    op.drop_column("background_jobs", "actor_name")
    op.drop_column("background_jobs", "queue_name")
    op.drop_column("background_jobs", "max_attempts")
    op.drop_column("background_jobs", "attempt")
    op.drop_column("background_jobs", "error_traceback")
    op.drop_column("background_jobs", "error_message")
    op.drop_column("background_jobs", "error_class")
    op.drop_column("background_jobs", "result")
    op.drop_column("background_jobs", "params")
