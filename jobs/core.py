"""The job lifecycle: background_jobs is the source of truth, Dramatiq only the transport.

Web, services and the clock start work through ``start``; workers advance it through
``claim`` / ``Attempt``. Every transition is a guarded UPDATE (``WHERE status IN ...``), so
status never moves backwards and a duplicate delivery finds nothing to do. Each attempt
holds a fresh lease token that all its writes carry (the fence), so a worker that was paused
or presumed dead cannot overwrite its successor.

This module knows job kinds by name only (the policy registry below is filled by the actor
modules): services and web start work without importing any actor.
"""

from __future__ import annotations

import functools
import threading
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dramatiq
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, bindparam, event, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased

from models.db import SessionFactory, current_tenant, db, get_engine
from models.jobs import ACTIVE_STATUSES, BackgroundJob
from services.errors import Conflict, NotFound
from services.rows import get_or_404

#: Seconds a running job may go without a heartbeat before the reaper acts, by default.
DEFAULT_STALE_AFTER_S = 90.0
#: Longest traceback kept on a job row, in characters.
MAX_TRACEBACK_CHARS = 20_000

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

    def backoff_ms(self, attempt: int) -> int:
        return int(self.retry_backoff.total_seconds() * 1000 * 2 ** max(attempt - 1, 0))


_POLICIES: dict[str, JobPolicy] = {}


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
    for pending in session.info.pop("jobs_to_enqueue", ()):
        enqueue(pending.job_id, pending.tenant_id, route=pending.route)


@event.listens_for(SessionFactory, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction) -> None:
    session.info.pop("jobs_to_enqueue", None)


def enqueue(
    job_id: uuid.UUID,
    tenant_id: uuid.UUID,
    *,
    route: tuple[str, str] | None = None,
    delay_ms: int | None = None,
) -> bool:
    """Hand a committed pending job to the broker and note when; False if the broker failed.

    ``route`` (queue, actor) saves reading it when the caller knows it. A failure is left to
    the outbox relay, which re-sends pending rows never enqueued.
    """
    with tenant_connection(tenant_id) as conn:
        if route is None:
            row = conn.execute(_PENDING_ROUTE, {"job_id": job_id}).one_or_none()
            if row is None:
                return True
            route = (row.queue_name, row.actor_name)
        message = dramatiq.Message(
            queue_name=route[0],
            actor_name=route[1],
            args=(str(job_id), str(tenant_id)),
            kwargs={},
            options={},
        )
        try:
            dramatiq.get_broker().enqueue(message, delay=delay_ms)
        except Exception:  # noqa: BLE001 - any broker failure leaves the row to the relay
            return False
        conn.execute(_MARK_ENQUEUED, {"job_id": job_id, "sent_message_id": message.message_id})
    return True


# The job core's own statements are built once, with bound parameters, rather than per call:
# every job runs enqueue, claim and finish, and building and keying a statement costs more
# CPU than executing it. Parameter names differ from column names on purpose (in an UPDATE,
# a parameter named like a column would become a SET value).
_PENDING_ROUTE = select(BackgroundJob.queue_name, BackgroundJob.actor_name).where(
    BackgroundJob.id == bindparam("job_id"), BackgroundJob.status == "pending"
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


_RERUN = aliased(BackgroundJob)
#: A job and the ids of the jobs that rerun it, oldest first, in one round trip (the poll).
_WITH_RERUNS = select(
    BackgroundJob,
    select(func.array_agg(aggregate_order_by(_RERUN.id, _RERUN.created_at)))
    .where(_RERUN.rerun_of_id == BackgroundJob.id)
    .scalar_subquery(),
).where(BackgroundJob.id == bindparam("job_id"))


def get_with_reruns(job_id: uuid.UUID) -> tuple[BackgroundJob, list[uuid.UUID]]:
    """A job and the ids of its reruns (oldest first); what a client polls."""
    row = db.execute(_WITH_RERUNS, {"job_id": job_id}).one_or_none()
    if row is None:
        raise NotFound("No such job.")
    job, reruns = row
    return job, reruns or []


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


# --- the worker side -----------------------------------------------------------------------


class JobCancelled(Exception):
    """Raised at a checkpoint when an operator asked the job to stop."""


class LeaseLost(Exception):
    """Raised when this attempt's lease was taken over: another attempt owns the job now."""


class HandBack(Exception):
    """Raised at a checkpoint when the worker is shutting down and the job may run later."""


@dataclass
class Claim:
    job_id: uuid.UUID
    tenant_id: uuid.UUID
    job_type: str
    lease: uuid.UUID
    attempt: int
    max_attempts: int
    params: dict[str, Any]
    resource_type: str | None
    resource_id: uuid.UUID | None


def claim(job_id: uuid.UUID, tenant_id: uuid.UUID, *, message_id: str | None) -> Claim | None:
    """pending -> running with a fresh lease; None when the job is not ours to run."""
    lease = uuid.uuid4()
    row = _worker_write(
        tenant_id, _CLAIM, {"job_id": job_id, "new_lease": lease, "claimed_message_id": message_id}
    ).fetchone()
    if row is None:
        return None
    job_type, attempt, max_attempts, params, resource_type, resource_id = row
    return Claim(
        job_id,
        tenant_id,
        job_type,
        lease,
        attempt,
        max_attempts,
        params,
        resource_type,
        resource_id,
    )


_CLAIM = (
    update(BackgroundJob)
    .where(BackgroundJob.id == bindparam("job_id"), BackgroundJob.status == "pending")
    .values(
        status="running",
        attempt=BackgroundJob.attempt + 1,
        lease_token=bindparam("new_lease"),
        heartbeat_at=func.now(),
        started_at=func.coalesce(BackgroundJob.started_at, func.now()),
        enqueued_at=func.coalesce(BackgroundJob.enqueued_at, func.now()),
        message_id=bindparam("claimed_message_id"),
    )
    .returning(
        BackgroundJob.job_type,
        BackgroundJob.attempt,
        BackgroundJob.max_attempts,
        BackgroundJob.params,
        BackgroundJob.resource_type,
        BackgroundJob.resource_id,
    )
)

#: Every write of an attempt: only while it still holds the lease and the job is running.
_FENCED = update(BackgroundJob).where(
    BackgroundJob.id == bindparam("job_id"),
    BackgroundJob.lease_token == bindparam("lease"),
    BackgroundJob.status == "running",
)
_ERROR_VALUES = {
    "error_class": bindparam("failure_class"),
    "error_message": bindparam("failure_message"),
    "error_traceback": bindparam("failure_traceback"),
}


# The worker's writes (claim, heartbeat, finish, release) go through psycopg directly, on one
# autocommit connection per worker thread that serves nothing else: each write is one
# statement and one round trip, with no pool checkout, pre-ping, BEGIN or COMMIT. These writes
# are most of what tracking a job costs, so this is where the job core's overhead lives.
# The tenant is a session setting on that private connection, set again only when the next
# write is for another tenant.
_worker_state = threading.local()
_SET_SESSION_TENANT = "SELECT set_config('app.tenant_id', %s, false)"


@functools.cache
def _compiled(statement) -> tuple[str, dict[str, Any]]:
    compiled = statement.compile(dialect=postgresql.psycopg.dialect())
    return compiled.string, dict(compiled.params)


def _worker_connection(tenant_id: uuid.UUID) -> psycopg.Connection:
    engine = get_engine()
    state = _worker_state.__dict__
    if state.get("engine") is not engine or state["connection"].closed:
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        state.update(engine=engine, connection=psycopg.connect(url, autocommit=True), tenant=None)
    if state["tenant"] != tenant_id:
        state["connection"].execute(_SET_SESSION_TENANT, (str(tenant_id),))
        state["tenant"] = tenant_id
    return state["connection"]


def _worker_write(tenant_id: uuid.UUID, statement, params: dict[str, Any]) -> psycopg.Cursor:
    """Run ``statement`` as ``tenant_id`` in a transaction of its own; on a broken
    connection, reconnect and try once more (every statement here is guarded, so a repeat
    of one that did commit changes nothing)."""
    sql, defaults = _compiled(statement)
    values = {**defaults}
    for name, value in params.items():
        values[name] = Jsonb(value) if isinstance(value, dict) else value
    try:
        return _worker_connection(tenant_id).execute(sql, values)
    except psycopg.OperationalError:
        _drop_worker_connection()
        return _worker_connection(tenant_id).execute(sql, values)


def _drop_worker_connection() -> None:
    state = _worker_state.__dict__
    state.pop("engine", None)
    connection = state.pop("connection", None)
    if connection is not None:
        connection.close()


def _fence(claim_: Claim) -> dict[str, Any]:
    return {"job_id": claim_.job_id, "lease": claim_.lease}


@functools.cache
def _heartbeat_statement(with_progress: bool):
    values: dict[str, Any] = {"heartbeat_at": func.now()}
    if with_progress:
        values["progress"] = bindparam("new_progress")
    return _FENCED.values(**values).returning(BackgroundJob.cancel_requested_at)


@functools.cache
def _finish_statement(with_progress: bool, with_error: bool):
    values: dict[str, Any] = {
        "status": bindparam("new_status"),
        "finished_at": func.now(),
        "heartbeat_at": func.now(),
        "lease_token": None,
        "result": bindparam("new_result"),
    }
    if with_progress:
        values["progress"] = bindparam("new_progress")
    if with_error:
        values.update(_ERROR_VALUES)
    return _FENCED.values(**values)


@functools.cache
def _release_statement(with_error: bool):
    values: dict[str, Any] = {"status": "pending", "lease_token": None, "enqueued_at": None}
    if with_error:
        values.update(_ERROR_VALUES)
    else:
        # Handed back at shutdown: this attempt does not count.
        values["attempt"] = BackgroundJob.attempt - 1
    return _FENCED.values(**values)


def heartbeat(claim_: Claim, progress: dict[str, Any] | None) -> bool:
    """Write progress (or just the heartbeat) under the fence; return cancel requested.

    Raises LeaseLost when the fence no longer matches.
    """
    params = _fence(claim_)
    if progress is not None:
        params["new_progress"] = progress
    statement = _heartbeat_statement(progress is not None)
    row = _worker_write(claim_.tenant_id, statement, params).fetchone()
    if row is None:
        raise LeaseLost(str(claim_.job_id))
    return row[0] is not None


def finish(
    claim_: Claim,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: BaseException | None = None,
    progress: dict[str, Any] | None = None,
) -> bool:
    """running -> completed | failed | cancelled, under the fence; False if fenced out."""
    params = {**_fence(claim_), "new_status": status, "new_result": result}
    if progress is not None:
        params["new_progress"] = progress
    if error is not None:
        params.update(_error_params(error))
    statement = _finish_statement(progress is not None, error is not None)
    return bool(_worker_write(claim_.tenant_id, statement, params).rowcount)


def release(claim_: Claim, *, error: BaseException | None, delay_ms: int | None) -> bool:
    """running -> pending for another attempt, then enqueue it; False if fenced out."""
    params = _fence(claim_)
    if error is not None:
        params.update(_error_params(error))
    statement = _release_statement(error is not None)
    moved = _worker_write(claim_.tenant_id, statement, params).rowcount
    if moved:
        enqueue(claim_.job_id, claim_.tenant_id, delay_ms=delay_ms)
    return bool(moved)


def _error_params(error: BaseException) -> dict[str, Any]:
    trace = "".join(traceback.format_exception(error))
    return {
        "failure_class": f"{type(error).__module__}.{type(error).__qualname__}",
        "failure_message": str(error)[:2000] or type(error).__name__,
        "failure_traceback": trace[-MAX_TRACEBACK_CHARS:],
    }
