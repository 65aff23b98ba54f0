"""The job lifecycle: background_jobs is the source of truth, Dramatiq only the transport.

Web, services and the clock start work through ``start``; workers advance it through
``jobs.attempts`` (claim, then writes under the attempt's lease). Every transition is a
guarded UPDATE (``WHERE status IN ...``), so status never moves backwards and a duplicate
delivery finds nothing to do. Each attempt holds a fresh lease token that all its writes carry
(the fence), so a worker that was paused or presumed dead cannot overwrite its successor.

This module knows job kinds by name only (the policy registry below is filled by the actor
modules): services and web start work without importing any actor.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import dramatiq
import sqlalchemy.exc
from sqlalchemy import Connection, bindparam, event, func, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from models.base import NAMES_TENANT
from models.db import SessionFactory, current_tenant, db, get_engine, read_alone
from models.jobs import ACTIVE_STATUSES, BackgroundJob
from services.errors import Conflict, NotFound
from services.rows import get_or_404

log = logging.getLogger(__name__)

#: Seconds a running job may go without a heartbeat before the reaper acts, by default.
#: Every worker process heartbeats each job it runs every few seconds (jobs/liveness.py),
#: whatever the job is doing, so this only has to outlast a few missed beats.
DEFAULT_STALE_AFTER_S = 30.0
#: Most of a job's time limit kept back from its outbound calls (see JobPolicy.call_budget).
CALL_MARGIN = timedelta(seconds=60)

_SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant, true)")


@dataclass(frozen=True)
class JobPolicy:
    """How a kind of job runs: declared beside its actor with ``@job_actor``."""

    job_type: str
    actor_name: str
    queue: str = "default"
    time_limit: timedelta = timedelta(minutes=10)
    #: Attempts in all, the first included; 1 means never retried automatically.
    max_attempts: int = 3
    #: Delay before the first retry; doubles with each attempt.
    retry_backoff: timedelta = timedelta(seconds=5)
    #: Whether the reaper may re-queue a job whose worker vanished (safe to repeat).
    requeue_if_stale: bool = True
    stale_after: timedelta = timedelta(seconds=DEFAULT_STALE_AFTER_S)

    def backoff(self, attempt: int) -> timedelta:
        """How long the job waits after failed attempt ``attempt`` before the next one."""
        return self.retry_backoff * 2 ** max(attempt - 1, 0)

    @property
    def call_budget(self) -> timedelta:
        """How long outbound calls may go on in one attempt: the time limit less a margin
        (a tenth, at most CALL_MARGIN), so a hung service ends in a timeout that names it
        before the time limit cuts the attempt off."""
        return self.time_limit - min(self.time_limit / 10, CALL_MARGIN)


_POLICIES: dict[str, JobPolicy] = {}
#: Per kind: what else a job's worker lost must settle when the reaper fails it (a deployment
#: left running), called with the tenant's connection inside the reaper's transaction.
LOST_HANDLERS: dict[str, Callable[[Connection, uuid.UUID], None]] = {}


def register(policy: JobPolicy) -> None:
    _POLICIES[policy.job_type] = policy


def registered_policies() -> list[JobPolicy]:
    return list(_POLICIES.values())


def policy_for(job_type: str) -> JobPolicy:
    try:
        return _POLICIES[job_type]
    except KeyError:
        raise LookupError(f"no actor is registered for job type {job_type!r}") from None


# --- starting work -----------------------------------------------------------------------


def start(
    job_type: str,
    *,
    resource_type: str | None = None,
    resource_id: uuid.UUID | None = None,
    params: dict[str, Any] | None = None,
    concurrency_key: str | None = None,
    idempotency_key: str | None = None,
    triggered_by: str = "user",
    user_id: uuid.UUID | None = None,
    rerun_of_id: uuid.UUID | None = None,
    schedule_key: str | None = None,
    scheduled_slot=None,
) -> BackgroundJob | None:
    """Insert a pending job in the caller's transaction; it is enqueued after that commits.

    The same ``idempotency_key`` returns the job it created before. A ``concurrency_key``
    held by a pending or running job raises Conflict naming that job. A schedule slot that
    already has its job returns None.
    """
    policy = policy_for(job_type)
    row = db.execute(
        pg_insert(BackgroundJob)
        .values(
            tenant_id=current_tenant(),
            job_type=job_type,
            resource_type=resource_type,
            resource_id=resource_id,
            params=params or {},
            concurrency_key=concurrency_key,
            idempotency_key=idempotency_key,
            triggered_by=triggered_by,
            triggered_by_user_id=user_id,
            rerun_of_id=rerun_of_id,
            schedule_key=schedule_key,
            scheduled_slot=scheduled_slot,
            max_attempts=policy.max_attempts,
            queue_name=policy.queue,
            actor_name=policy.actor_name,
            progress={"current": 0, "total": None, "percentage": 0, "message": "queued"},
        )
        .on_conflict_do_nothing()
        .returning(BackgroundJob)
    ).scalar_one_or_none()
    if row is not None:
        db.info.setdefault("jobs_to_enqueue", []).append(
            _Pending(row.id, row.tenant_id, (policy.queue, policy.actor_name))
        )
        return row
    return _existing_for(idempotency_key, concurrency_key, schedule_key)


def _existing_for(idempotency_key, concurrency_key, schedule_key) -> BackgroundJob | None:
    if idempotency_key:
        job = db.scalar(
            select(BackgroundJob).where(BackgroundJob.idempotency_key == idempotency_key)
        )
        if job is not None:
            return job
    if concurrency_key:
        job = db.scalar(
            select(BackgroundJob).where(
                BackgroundJob.concurrency_key == concurrency_key,
                BackgroundJob.status.in_(ACTIVE_STATUSES),
            )
        )
        if job is not None:
            raise Conflict(
                "A job for the same resource is already pending or running.",
                code="job_already_active",
                job_id=str(job.id),
                status=job.status,
            )
    if schedule_key:
        return None
    # The conflicting row committed and finished between our insert and this read.
    raise Conflict("The job could not be created; try again.", code="job_conflict")


@dataclass(frozen=True)
class _Pending:
    job_id: uuid.UUID
    tenant_id: uuid.UUID
    route: tuple[str, str]


@event.listens_for(SessionFactory, "after_commit")
def _enqueue_committed(session: Session) -> None:
    # A bulk trigger (a bulk rerun, a schedule's fan-out) commits many jobs at once: each
    # tenant's are sent in one transaction, marked enqueued in one pipelined statement.
    by_tenant: dict[uuid.UUID, list[_Pending]] = {}
    for pending in session.info.pop("jobs_to_enqueue", ()):
        by_tenant.setdefault(pending.tenant_id, []).append(pending)
    for tenant_id, created in by_tenant.items():
        _send_created(tenant_id, created)


def _send_created(tenant_id: uuid.UUID, created: list[_Pending]) -> None:
    """Send jobs just created (their routes known) and record their messages; a job whose
    message or record fails stays unsent for the outbox relay."""
    try:
        with tenant_connection(tenant_id) as conn:
            _deliver(conn, tenant_id, [(pending.job_id, pending.route) for pending in created])
    except sqlalchemy.exc.OperationalError as error:
        log.warning(
            "%d jobs: not sent or not recorded (%s); the relay sees to them", len(created), error
        )


def _deliver(conn: Connection, tenant_id: uuid.UUID, routed: list) -> int:
    """Send each (job id, route) and record the sent ones' messages in one statement; the
    number sent (a job the broker refused is left to the relay)."""
    sent = []
    for job_id, route in routed:
        try:
            message = dramatiq.get_broker().enqueue(message_for(job_id, tenant_id, route))
        except Exception:  # noqa: BLE001 - any broker failure leaves the row to the relay
            log.warning("job %s: the broker refused its message; the relay sends it", job_id)
            continue
        sent.append({"job_id": job_id, "sent_message_id": broker_key(message)})
    if sent:
        conn.execute(_MARK_ENQUEUED, sent)
    return len(sent)


@event.listens_for(SessionFactory, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction) -> None:
    session.info.pop("jobs_to_enqueue", None)


def enqueue(job_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
    """Hand a committed pending job to the broker, if it is still pending and not yet sent,
    and record which message carries it; False if the broker or the database failed (the
    outbox relay sends it later)."""
    return _send(job_id, tenant_id, _UNSENT_ROUTE, {"job_id": job_id})


def resend(job_id: uuid.UUID, tenant_id: uuid.UUID, *, lost_message_id: str | None) -> bool:
    """Send a pending job again because the broker no longer holds the message last sent
    (``lost_message_id``); a job that started, or was sent again meanwhile, is left alone."""
    params = {"job_id": job_id, "lost_message_id": lost_message_id}
    return _send(job_id, tenant_id, _LOST_ROUTE, params)


def broker_key(message: dramatiq.Message) -> str:
    """The id the broker keeps a sent message under (Redis: a fresh id per send)."""
    return message.options.get("redis_message_id", message.message_id)


def message_for(job_id: uuid.UUID, tenant_id: uuid.UUID, route: tuple[str, str]):
    """A job's message: its ids only (never parameters or secrets)."""
    return dramatiq.Message(
        queue_name=route[0],
        actor_name=route[1],
        args=(str(job_id), str(tenant_id)),
        kwargs={},
        options={},
    )


def _send(job_id, tenant_id, route_query, params) -> bool:
    try:
        with tenant_connection(tenant_id) as conn:
            row = conn.execute(route_query, params).one_or_none()
            if row is None:
                return True
            if not _deliver(conn, tenant_id, [(job_id, (row.queue_name, row.actor_name))]):
                return False
    except sqlalchemy.exc.OperationalError as error:
        log.warning("job %s: not sent or not recorded (%s); the relay sees to it", job_id, error)
        return False
    return True


# The job core's own statements are built once, with bound parameters, rather than per call:
# every job runs enqueue, claim and finish, and building and keying a statement costs more
# CPU than executing it. Parameter names differ from column names on purpose (in an UPDATE,
# a parameter named like a column would become a SET value).
_ROUTE = select(BackgroundJob.queue_name, BackgroundJob.actor_name).with_for_update(
    skip_locked=True
)
#: A job waiting for its first message, or for the message after a retry's backoff.
_UNSENT_ROUTE = _ROUTE.where(
    BackgroundJob.id == bindparam("job_id"),
    BackgroundJob.status == "pending",
    BackgroundJob.enqueued_at.is_(None),
)
_LOST_ROUTE = _ROUTE.where(
    BackgroundJob.id == bindparam("job_id"),
    BackgroundJob.status == "pending",
    BackgroundJob.message_id.is_not_distinct_from(bindparam("lost_message_id")),
)
_MARK_ENQUEUED = (
    update(BackgroundJob)
    .where(BackgroundJob.id == bindparam("job_id"), BackgroundJob.status == "pending")
    .values(enqueued_at=func.now(), message_id=bindparam("sent_message_id"))
)


@contextmanager
def tenant_connection(tenant_id: uuid.UUID) -> Iterator[Connection]:
    """A short transaction of its own, as ``tenant_id``: job bookkeeping never rides on (or
    commits) the work's transaction."""
    with get_engine().begin() as conn:
        conn.execute(_SET_TENANT, {"tenant": str(tenant_id)})
        yield conn


# --- operator actions ----------------------------------------------------------------------


def get(job_id: uuid.UUID) -> BackgroundJob:
    return get_or_404(BackgroundJob, job_id, "No such job.")


_JOBS = BackgroundJob.__table__
_RERUN = _JOBS.alias()
#: Columns a poller is never shown (the API's job, the job page): they stay on the server.
_SERVER_ONLY = frozenset(
    {"tenant_id", "metadata", "error_traceback", "actor_name", "lease_token", "effects"}
    | {"schedule_key", "scheduled_slot", "live_seq"}
)
#: A job and the ids of the jobs that rerun it, oldest first, in one round trip (the poll).
_WITH_RERUNS = (
    select(
        *(column for column in _JOBS.c if column.name not in _SERVER_ONLY),
        select(func.array_agg(aggregate_order_by(_RERUN.c.id, _RERUN.c.created_at)))
        .where(_RERUN.c.rerun_of_id == _JOBS.c.id, _RERUN.c.tenant_id == bindparam("tenant"))
        .scalar_subquery()
        .label("reruns"),
    )
    .where(_JOBS.c.id == bindparam("job_id"), _JOBS.c.tenant_id == bindparam("tenant"))
    .execution_options(**{NAMES_TENANT: True})
)


def get_with_reruns(job_id: uuid.UUID) -> tuple[SimpleNamespace, list[uuid.UUID]]:
    """A job as a poller sees it (its columns as attributes) and the ids of its reruns,
    oldest first. Plain columns, not an ORM object: the poll is the hottest read, and loading
    an instance into the session is CPU it does not need; one statement, so it stands alone
    (read_alone: no BEGIN or COMMIT of its own)."""
    rows = read_alone(_WITH_RERUNS, {"job_id": job_id, "tenant": current_tenant()})
    if not rows:
        raise NotFound("No such job.")
    columns = dict(rows[0])
    reruns = columns.pop("reruns")
    return SimpleNamespace(**columns), reruns or []


def cancel(job_id: uuid.UUID) -> BackgroundJob:
    """Cancel a pending job now; ask a running one to stop at its next checkpoint."""
    job = get(job_id)
    pending = (
        update(BackgroundJob)
        .where(BackgroundJob.id == job_id, BackgroundJob.status == "pending")
        .values(
            status="cancelled",
            finished_at=func.now(),
            cancel_requested_at=func.now(),
            progress=BackgroundJob.progress.op("||")({"message": "cancelled"}),
        )
    )
    running = (
        update(BackgroundJob)
        .where(
            BackgroundJob.id == job_id,
            BackgroundJob.status == "running",
            BackgroundJob.cancel_requested_at.is_(None),
        )
        .values(cancel_requested_at=func.now())
    )
    changed = db.execute(pending).rowcount or db.execute(running).rowcount
    db.commit()
    db.refresh(job)
    # Asking again while a running job winds down is fine; a finished job cannot be cancelled.
    if not changed and job.status != "running":
        raise Conflict(f"The job is already {job.status}.", code="job_finished", status=job.status)
    return job


def rerun(job_id: uuid.UUID, *, user_id: uuid.UUID | None) -> BackgroundJob:
    """Start a new job like a finished one, linked by rerun_of_id; the old row never changes."""
    job = get(job_id)
    if job.status in ACTIVE_STATUSES:
        raise Conflict(
            f"The job is still {job.status}; cancel it or wait for it to finish.",
            code="job_active",
            status=job.status,
        )
    new = start(
        job.job_type,
        resource_type=job.resource_type,
        resource_id=job.resource_id,
        params=job.params,
        concurrency_key=job.concurrency_key,
        triggered_by="rerun",
        user_id=user_id,
        rerun_of_id=job.id,
    )
    db.commit()
    return new
