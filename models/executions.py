"""Workflow executions ingested from n8n."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, CreatedAt, TenantOwned, Timestamps, enum_check, tenant_fk
from models.environments import PROVIDERS

NORMALIZED_STATUSES = ("success", "error", "running", "waiting")


class Execution(TenantOwned, Timestamps, Base):
    """One n8n execution, upserted by ingestion until it finishes."""

    __tablename__ = "executions"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        # Ingestion's ON CONFLICT target: re-reading a page never duplicates a row.
        UniqueConstraint("tenant_id", "environment_id", "n8n_execution_id"),
        # The list queries page by keyset (started_at, id), newest first: with id in the
        # index, a page is an index range scan instead of a sort of the whole environment.
        Index(
            "ix_executions_tenant_id_environment_id_started_at",
            "tenant_id",
            "environment_id",
            "started_at",
            "id",
        ),
        Index(
            "ix_executions_tenant_id_workflow_id_started_at",
            "tenant_id",
            "workflow_id",
            "started_at",
            "id",
        ),
        Index("ix_executions_tenant_id_started_at", "tenant_id", "started_at", "id"),
        # The failures of an environment, newest first (the listing's most used filter).
        Index(
            "ix_executions_failed",
            "tenant_id",
            "environment_id",
            "started_at",
            "id",
            postgresql_where=text("normalized_status = 'error'"),
        ),
        # Ingestion re-reads the executions it saw unfinished.
        Index(
            "ix_executions_unfinished",
            "tenant_id",
            "environment_id",
            postgresql_where=text("normalized_status IN ('running', 'waiting')"),
        ),
        # A workflow's first sync names the executions ingested before it.
        Index(
            "ix_executions_unnamed",
            "tenant_id",
            "environment_id",
            "workflow_id",
            postgresql_where=text("workflow_name IS NULL"),
        ),
        enum_check("provider", PROVIDERS),
        enum_check("normalized_status", NORMALIZED_STATUSES),
    )

    environment_id: Mapped[uuid.UUID]
    provider: Mapped[str] = mapped_column(String(20), server_default="n8n")
    n8n_execution_id: Mapped[str] = mapped_column(Text)
    #: The n8n workflow id, not a canonical id: executions outlive mappings.
    workflow_id: Mapped[str] = mapped_column(Text)
    workflow_name: Mapped[str | None] = mapped_column(Text)
    #: n8n's own status, kept as sent; n8n versions differ in the values they use.
    status: Mapped[str | None] = mapped_column(Text)
    normalized_status: Mapped[str] = mapped_column(String(20))
    #: NULL for executions n8n has queued but not started.
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: Milliseconds from start to finish; NULL while running.
    execution_time: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    error_node: Mapped[str | None] = mapped_column(Text)
    #: No CHECK: n8n adds modes (manual, trigger, webhook, retry, integrated, ...) between
    #: releases, and a new one must not make ingestion fail.
    mode: Mapped[str | None] = mapped_column(Text)
    #: The n8n execution this one retried, if any.
    retry_of: Mapped[str | None] = mapped_column(Text)


class ExecutionGap(TenantOwned, CreatedAt, Base):
    """An execution id n8n's listing skipped (it leaves out executions in flight): read by
    id until it is stored, or gone for long enough to be given up."""

    __tablename__ = "execution_gaps"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "environment_id", "n8n_execution_id"),
    )

    environment_id: Mapped[uuid.UUID]
    n8n_execution_id: Mapped[str] = mapped_column(Text)
    #: The last read that found nothing; None until the first one.
    last_checked_at: Mapped[datetime | None]


#: Roll-up rows are updated by every page ingested: pages filled to 40 % keep the new versions
#: on the same page (HOT updates: no new index entries).
ROLLUP_STORAGE = {"postgresql_with": {"fillfactor": 40}}


class _RollupFigures:
    """What a roll-up row holds of one workflow's executions over its span (hour or day)."""

    environment_id: Mapped[uuid.UUID]
    workflow_id: Mapped[str] = mapped_column(Text)
    #: The greatest workflow name among the span's executions (max(), as analytics read it).
    workflow_name: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int]
    success: Mapped[int]
    error: Mapped[int]
    running: Mapped[int]
    waiting: Mapped[int]
    #: Finished executions per duration bucket ({bucket: count}; bucket b holds durations d
    #: with floor(BUCKETS_PER_DOUBLING * log2(d + 1)) = b, in milliseconds).
    durations: Mapped[dict[str, int]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    last_failure_at: Mapped[datetime | None]
    last_failure_id: Mapped[uuid.UUID | None]
    last_failure_n8n_id: Mapped[str | None] = mapped_column(Text)
    last_failure_message: Mapped[str | None] = mapped_column(Text)
    last_failure_node: Mapped[str | None] = mapped_column(Text)


class ExecutionRollup(_RollupFigures, TenantOwned, Base):
    """One hour of one workflow's executions in one environment: counts, a duration histogram
    and the hour's newest failure. Ingestion adds each change's difference in the statement
    that stores it, so analytics read hours instead of every execution
    (services/execution_rollups.py)."""

    __tablename__ = "execution_rollups"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        # An environment's window: a range of hours.
        UniqueConstraint("tenant_id", "environment_id", "hour", "workflow_id"),
        # One workflow's window.
        Index(
            "ix_execution_rollups_tenant_id_environment_id_workflow_id_hour",
            "tenant_id",
            "environment_id",
            "workflow_id",
            "hour",
        ),
        ROLLUP_STORAGE,
    )

    #: The hour's start (UTC).
    hour: Mapped[datetime]


class ExecutionDailyRollup(_RollupFigures, TenantOwned, Base):
    """One UTC day of one workflow's executions in one environment, kept like the hours: long
    windows read whole days here (up to their first whole week) and only their first, partial
    day from the hours."""

    __tablename__ = "execution_daily_rollups"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        # Named here: the convention's names would pass PostgreSQL's 63 bytes.
        UniqueConstraint(
            "tenant_id",
            "environment_id",
            "day",
            "workflow_id",
            name="uq_execution_daily_rollups_day",
        ),
        Index(
            "ix_execution_daily_rollups_workflow_day",
            "tenant_id",
            "environment_id",
            "workflow_id",
            "day",
        ),
        ROLLUP_STORAGE,
    )

    #: The day's start (UTC midnight).
    day: Mapped[datetime]


class ExecutionWeeklyRollup(_RollupFigures, TenantOwned, Base):
    """Seven UTC days (from a Thursday, as date_bin counts them from the epoch) of one
    workflow's executions in one environment, kept like the days: a 90-day window reads about
    13 weeks and a few days a workflow, not 90 days (and merges as many fewer histograms)."""

    __tablename__ = "execution_weekly_rollups"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        UniqueConstraint(
            "tenant_id",
            "environment_id",
            "week",
            "workflow_id",
            name="uq_execution_weekly_rollups_week",
        ),
        Index(
            "ix_execution_weekly_rollups_workflow_week",
            "tenant_id",
            "environment_id",
            "workflow_id",
            "week",
        ),
        ROLLUP_STORAGE,
    )

    #: The week's start (a Thursday's UTC midnight).
    week: Mapped[datetime]
