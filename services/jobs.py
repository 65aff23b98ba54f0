"""Reading and steering jobs for the API and the CLI: filters, stats, rerun in bulk."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import dramatiq
from sqlalchemy import BigInteger, CompoundSelect, Select, func, select

from jobs import core
from models.db import db
from models.jobs import (
    ACTIVE_STATUSES,
    JOB_STATUSES,
    TERMINAL_STATUSES,
    BackgroundJob,
    JobCount,
)
from services.errors import Conflict, DomainError, InvalidInput

#: Most jobs one bulk rerun may start.
MAX_BULK_RERUN = 500


@dataclass(frozen=True)
class JobFilters:
    statuses: tuple[str, ...] = ()
    job_type: str | None = None
    resource_type: str | None = None
    resource_id: uuid.UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    rerun_of: uuid.UUID | None = None


def list_query(filters: JobFilters) -> Select:
    """Jobs matching ``filters``, newest first."""
    query = select(BackgroundJob)
    conditions = (
        (filters.statuses, lambda: BackgroundJob.status.in_(filters.statuses)),
        (filters.job_type, lambda: BackgroundJob.job_type == filters.job_type),
        (filters.resource_type, lambda: BackgroundJob.resource_type == filters.resource_type),
        (filters.resource_id, lambda: BackgroundJob.resource_id == filters.resource_id),
        (filters.created_after, lambda: BackgroundJob.created_at >= filters.created_after),
        (filters.created_before, lambda: BackgroundJob.created_at < filters.created_before),
        (filters.rerun_of, lambda: BackgroundJob.rerun_of_id == filters.rerun_of),
    )
    for value, condition in conditions:
        if value:
            query = query.where(condition())
    return query.order_by(BackgroundJob.created_at.desc(), BackgroundJob.id.desc())


def count(filters: JobFilters) -> int | None:
    """How many jobs match ``filters`` when they name only statuses and a kind: finished ones
    from job_counts (a few rows, however many jobs), active ones from the jobs themselves (work
    in flight, few); None for any other filter."""
    if replace(filters, statuses=(), job_type=None) != JobFilters():
        return None
    counts = _counts(filters.statuses or JOB_STATUSES, filters.job_type).subquery()
    return db.scalar(select(func.coalesce(func.sum(counts.c.count), 0).cast(BigInteger)))


@dataclass
class BulkRerun:
    dry_run: bool
    matched: int = 0
    rerun: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def bulk_rerun(
    filters: JobFilters,
    *,
    dry_run: bool,
    user_id: uuid.UUID | None,
    refusal: Callable[[str], DomainError | None] = lambda _job_type: None,
) -> BulkRerun:
    """Rerun every finished job matching ``filters``; active ones, and kinds ``refusal``
    (given the kind) refuses to the caller, are skipped."""
    if filters.statuses and set(filters.statuses) & set(ACTIVE_STATUSES):
        raise InvalidInput("Only finished jobs can be rerun; filter on finished statuses.")
    query = list_query(filters).where(BackgroundJob.status.in_(TERMINAL_STATUSES))
    jobs = list(db.scalars(query.limit(MAX_BULK_RERUN + 1)))
    if len(jobs) > MAX_BULK_RERUN:
        raise InvalidInput(
            f"The filters match more than {MAX_BULK_RERUN} jobs; narrow them.",
            code="too_many_jobs",
        )
    outcome = BulkRerun(dry_run=dry_run, matched=len(jobs))
    for job in jobs:
        if refused := refusal(job.job_type):
            outcome.skipped.append({"job_id": job.id, "job_type": job.job_type, **_why(refused)})
            continue
        if dry_run:
            outcome.rerun.append({"job_id": job.id, "job_type": job.job_type})
            continue
        try:
            new = core.rerun(job.id, user_id=user_id)
        except Conflict as conflict:
            outcome.skipped.append({"job_id": job.id, "job_type": job.job_type, **_why(conflict)})
        else:
            outcome.rerun.append({"job_id": job.id, "new_job_id": new.id})
    return outcome


def _why(error: DomainError) -> dict:
    return {"reason": error.message}


def stats() -> dict:
    """The current tenant's counts by status and kind, and the age of its oldest pending job,
    from PostgreSQL alone: broker-wide queue depths are for operators (queue_depths).

    Finished jobs are counted from job_counts' slots (a few rows however many there are),
    active ones from their own rows; the oldest pending job is the end of the status index's
    range."""
    counts = db.execute(_counts(JOB_STATUSES, None)).all()
    oldest = db.scalar(
        select(func.min(BackgroundJob.created_at)).where(BackgroundJob.status == "pending")
    )
    by_status: dict[str, int] = {}
    by_type: dict[str, dict[str, int]] = {}
    for status, job_type, count in counts:
        by_status[status] = by_status.get(status, 0) + count
        by_type.setdefault(job_type, {})[status] = count
    return {
        "by_status": by_status,
        "by_job_type": by_type,
        "oldest_pending_age_seconds": (
            # The database's clock and this process's may differ by a few seconds.
            max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest else None
        ),
    }


def _counts(statuses: tuple[str, ...], job_type: str | None) -> Select | CompoundSelect:
    """(status, kind, count) for ``statuses``, a row for each pair that has jobs: job_counts
    keeps the finished ones (migration i13d_counts), active ones are counted where they are.
    Kinds and statuses no job has any more are left out, as a count of the jobs would.

    A half that none of ``statuses`` belongs to is left out of the statement, not filtered to
    nothing: PostgreSQL proves a scan empty only when a constant false is its one condition,
    and under row-level security the tenant policy's condition sits beside it. The scan was
    still planned, costed over all the tenant's jobs, with the false as a one-time filter: at
    100,000 jobs a tenant a parallel plan, two workers launched (10-15 ms) on every total of
    finished jobs (status=failed) to read nothing."""
    finished_statuses = [s for s in statuses if s in TERMINAL_STATUSES]
    active_statuses = [s for s in statuses if s in ACTIVE_STATUSES]
    total = func.sum(JobCount.count)
    finished = (
        select(JobCount.status, JobCount.job_type, total.cast(BigInteger).label("count"))
        .where(JobCount.status.in_(finished_statuses))
        .group_by(JobCount.status, JobCount.job_type)
        .having(total > 0)
    )
    active = (
        select(BackgroundJob.status, BackgroundJob.job_type, func.count().label("count"))
        .where(BackgroundJob.status.in_(active_statuses))
        .group_by(BackgroundJob.status, BackgroundJob.job_type)
    )
    if job_type:
        finished = finished.where(JobCount.job_type == job_type)
        active = active.where(BackgroundJob.job_type == job_type)
    if not active_statuses:
        return finished
    if not finished_statuses:
        return active
    return finished.union_all(active)


def queue_depths() -> dict[str, dict[str, int]]:
    """Messages waiting in each queue the registered kinds use (ready and delayed), all tenants
    together: for operators (CLI, metrics), never a tenant's API answer."""
    broker = dramatiq.get_broker()
    queues = sorted({p.queue for p in core.registered_policies()})
    pipe = broker.client.pipeline()
    for queue in queues:
        pipe.llen(f"{broker.namespace}:{queue}")
        pipe.llen(f"{broker.namespace}:{queue}.DQ")
    depths = pipe.execute()
    return {
        queue: {"ready": depths[2 * i], "delayed": depths[2 * i + 1]}
        for i, queue in enumerate(queues)
    }


def start_healthcheck(*, user_id: uuid.UUID, idempotency_key: str | None) -> BackgroundJob:
    job = core.start(
        "healthcheck", triggered_by="user", user_id=user_id, idempotency_key=idempotency_key
    )
    db.commit()
    return job
