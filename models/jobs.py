"""Background jobs: the tracked unit of every long operation, and the outbox of its message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSON, Base, TenantOwned, Timestamps, enum_check, tenant_fk
from models.db import current_tenant

#: Every kind of work the platform runs as a job.
JOB_TYPES = (
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
    # Pushes a tenant's embedded Git history to the remote its environments move to.
    "git_attach",
    # Canonical workflows (issue 10): onboarding from an anchor environment, Git -> database,
    # backups and restores, unmanaged-workflow actions that commit, digests after new rules.
    "canonical_onboarding",
    "repo_sync",
    "workflow_backup",
    "workflow_restore",
    "workflow_manage",
    "workflow_rehash",
    # Drift (issue 11): resolving an incident (writes to n8n or Git), the TTL checker, retention.
    "drift_revert",
    "drift_keep_hotfix",
    "drift_ttl",
    "drift_retention",
    # Checks an environment's connection after its URL or API key changed.
    "connection_check",
    # Does nothing: measures the overhead of the job core itself (bench/).
    "noop",
)
JOB_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
ACTIVE_STATUSES = ("pending", "running")
TERMINAL_STATUSES = ("completed", "failed", "cancelled")
TRIGGERS = ("user", "schedule", "rerun", "system")


def _newest_first(name: str, *columns: str) -> Index:
    return Index(name, "tenant_id", *columns, text("created_at DESC"), text("id DESC"))


class BackgroundJob(TenantOwned, Timestamps, Base):
    """A long operation's row: clients poll it, workers advance it, operators rerun it."""

    __tablename__ = "background_jobs"
    __extra_args__ = (
        tenant_fk("rerun_of_id", "background_jobs", ondelete="SET NULL"),
        tenant_fk("triggered_by_user_id", "users", ondelete="SET NULL"),
        # Each list filter, then the list's order (newest first, id the tie-break): a filtered
        # page is read in index order, never a sort of every match.
        _newest_first("ix_background_jobs_tenant_id_status_created_at", "status"),
        # GET /jobs without filters.
        _newest_first("ix_background_jobs_tenant_id_created_at_id"),
        _newest_first("ix_background_jobs_tenant_id_job_type_created_at", "job_type"),
        _newest_first(
            "ix_background_jobs_tenant_id_resource_type_resource_id",
            "resource_type",
            "resource_id",
        ),
        # A rerun's original: most jobs are none (and an index entry is a write per change).
        Index(
            "ix_background_jobs_rerun_of_id",
            "rerun_of_id",
            postgresql_where=text("rerun_of_id IS NOT NULL"),
        ),
        Index(
            "uq_background_jobs_tenant_id_idempotency_key",
            "tenant_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # One non-terminal job per concurrency key (e.g. one sync per environment).
        Index(
            "uq_background_jobs_tenant_id_concurrency_key_active",
            "tenant_id",
            "concurrency_key",
            unique=True,
            postgresql_where=text(
                "concurrency_key IS NOT NULL AND status IN ('pending', 'running')"
            ),
        ),
        # A schedule's slot produces one job, however many clocks fire it.
        Index(
            "uq_background_jobs_tenant_id_schedule_key_slot",
            "tenant_id",
            "schedule_key",
            "scheduled_slot",
            unique=True,
            postgresql_where=text("schedule_key IS NOT NULL"),
        ),
        # The outbox relay's scans: due but never handed to the broker, and sent but not
        # started (is the message still in the broker?).
        Index(
            "ix_background_jobs_unenqueued",
            "not_before",
            postgresql_where=text("status = 'pending' AND enqueued_at IS NULL"),
        ),
        Index(
            "ix_background_jobs_pending_enqueued",
            "enqueued_at",
            "id",
            postgresql_where=text("status = 'pending' AND enqueued_at IS NOT NULL"),
        ),
        # The reaper's scan.
        Index(
            "ix_background_jobs_running_heartbeat",
            "heartbeat_at",
            postgresql_where=text("status = 'running'"),
        ),
        # A live stream's replay after a reconnect (migration i15_live).
        Index("ix_background_jobs_tenant_id_live_seq", "tenant_id", "live_seq"),
        enum_check("job_type", JOB_TYPES),
        enum_check("status", JOB_STATUSES),
        enum_check("triggered_by", TRIGGERS),
    )

    # Not indexed alone: every list index leads with tenant_id, and each index is one more
    # write in every transition of every job (migration i13h_job_indexes).
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), default=current_tenant
    )
    job_type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    resource_type: Mapped[str | None] = mapped_column(String(50))
    resource_id: Mapped[uuid.UUID | None]
    #: The actor's arguments besides the job itself: ids and options, never secrets.
    params: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    #: {current, total, percentage, message}
    progress: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    result: Mapped[JSON | None]
    meta: Mapped[JSON] = mapped_column("metadata", server_default=text("'{}'::jsonb"))
    error_class: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)
    #: Attempts started so far; the first run is attempt 1.
    attempt: Mapped[int] = mapped_column(server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(server_default=text("1"))
    queue_name: Mapped[str] = mapped_column(String(50))
    actor_name: Mapped[str] = mapped_column(String(100))
    #: The broker's key of the last message sent for this job (Redis: its redis_message_id),
    #: so the relay can ask the broker whether that message is still there.
    message_id: Mapped[str | None] = mapped_column(String(64))
    rerun_of_id: Mapped[uuid.UUID | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    concurrency_key: Mapped[str | None] = mapped_column(String(255))
    schedule_key: Mapped[str | None] = mapped_column(String(255))
    scheduled_slot: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    #: The current attempt's fence: every write of that attempt must carry it.
    lease_token: Mapped[uuid.UUID | None]
    heartbeat_at: Mapped[datetime | None]
    triggered_by: Mapped[str] = mapped_column(String(20), server_default="user")
    triggered_by_user_id: Mapped[uuid.UUID | None]
    enqueued_at: Mapped[datetime | None]
    #: Earliest start: a retry waits out its backoff here, durably (not in a worker's memory).
    not_before: Mapped[datetime] = mapped_column(server_default=func.now())
    #: Each finished attempt's outcome, oldest first: {attempt, outcome, at, error_class,
    #: error_message}; the error_* columns describe only the job's final state.
    attempts: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    #: Database effects done exactly once (JobContext.once): {key: the effect's result}.
    effects: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    started_at: Mapped[datetime | None]
    #: Number of its last visible change, set by a trigger (see services/live.py).
    live_seq: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[datetime | None]


class JobCount(TenantOwned, Base):
    """How many of a tenant's finished jobs have one status and kind, kept by a trigger on
    background_jobs in the transaction of each change (migrations i13b_jobs, i13d_counts), so
    the stats read a few rows however many jobs there are (active jobs, few, are counted from
    their rows). One count is spread over slots (rows), each written
    by the connections of its own slot: the sum over the slots is the count."""

    __tablename__ = "job_counts"
    __extra_args__ = (UniqueConstraint("tenant_id", "status", "job_type", "slot"),)

    status: Mapped[str] = mapped_column(String(20))
    job_type: Mapped[str] = mapped_column(String(30))
    slot: Mapped[int] = mapped_column(SmallInteger)
    #: Jobs this slot added less those it took away: may be negative, the sum never is.
    count: Mapped[int] = mapped_column(BigInteger)
