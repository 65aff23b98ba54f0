"""``@job_actor``: a Dramatiq actor whose runs are tracked by the job core.

The decorator declares the kind's policy; the wrapper claims the job (or acks a duplicate),
sets the tenant for row-level security, keeps the job's heartbeat while it runs, runs the
function with a JobContext, and records the outcome under the attempt's lease. The actor
function never touches background_jobs.

A claim or an outcome that cannot reach PostgreSQL is tried again, backing off; a message is
never dead-lettered for it: a claim that keeps failing hands its message back to the broker.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import dramatiq
from dramatiq.common import q_name
from dramatiq.middleware import CurrentMessage, TimeLimitExceeded
from sqlalchemy import bindparam, func, update
from sqlalchemy.dialects.postgresql import JSONB

from jobs import attempts, core, telemetry
from jobs.attempts import Claim, HandBack, JobCancelled, LeaseLost
from jobs.core import JobPolicy
from jobs.liveness import DUE_SENDS, HEARTBEATS
from jobs.shutdown import shutting_down
from models.db import db, reset_context, tenant_scope
from models.jobs import BackgroundJob
from services import deadline

log = logging.getLogger(__name__)

#: Seconds between progress writes of one job; each write is also a cancellation checkpoint.
PROGRESS_INTERVAL_S = 1.0
#: Seconds a claim is retried while PostgreSQL is unreachable before the message goes back
#: to the broker for later.
CLAIM_PATIENCE_S = 60.0
#: Seconds an outcome (completed, failed, a retry) is retried while PostgreSQL is
#: unreachable; the job's heartbeat is kept meanwhile, so the reaper leaves it alone.
OUTCOME_PATIENCE_S = 600.0

T = TypeVar("T")

#: Locks the job row for the rest of the session's transaction, if this attempt holds it.
_LOCK_LEASE = (
    update(BackgroundJob)
    .where(
        BackgroundJob.id == bindparam("job_id"),
        BackgroundJob.lease_token == bindparam("lease"),
        BackgroundJob.status == "running",
    )
    .values(heartbeat_at=func.now())
    .returning(BackgroundJob.effects)
)
_RECORD_EFFECT = (
    update(BackgroundJob)
    .where(BackgroundJob.id == bindparam("job_id"))
    .values(effects=BackgroundJob.effects.op("||")(bindparam("effect", type_=JSONB)))
)


class JobContext:
    """What an actor sees of its job: ids, parameters, progress, and the lease checks."""

    def __init__(self, claim: Claim, policy: JobPolicy) -> None:
        self._claim = claim
        self._policy = policy
        self._last_write = time.monotonic()
        #: monotonic time by which outbound calls must be over (below the time limit).
        self.deadline = time.monotonic() + policy.call_budget.total_seconds()
        self.progress_state: dict[str, Any] = {
            "current": 0,
            "total": None,
            "percentage": 0,
            "message": "started",
        }

    @property
    def job_id(self) -> uuid.UUID:
        return self._claim.job_id

    @property
    def tenant_id(self) -> uuid.UUID:
        return self._claim.tenant_id

    @property
    def attempt(self) -> int:
        return self._claim.attempt

    @property
    def params(self) -> dict[str, Any]:
        return self._claim.params

    @property
    def resource_id(self) -> uuid.UUID | None:
        return self._claim.resource_id

    def progress(
        self,
        current: int | None = None,
        total: int | None = None,
        message: str | None = None,
        *,
        force: bool = False,
    ) -> None:
        """Record progress; written at most once a second. Also a checkpoint: raises
        JobCancelled when cancellation was asked, HandBack when the worker is stopping,
        LeaseLost when another attempt owns the job."""
        state = self.progress_state
        if current is not None:
            state["current"] = current
        if total is not None:
            state["total"] = total
        if message is not None:
            state["message"] = message
        if state["total"]:
            state["percentage"] = min(100, round(100 * state["current"] / state["total"]))
        now = time.monotonic()
        if not force and now - self._last_write < PROGRESS_INTERVAL_S:
            return
        self._last_write = now
        if attempts.heartbeat(self._claim, dict(state)):
            raise JobCancelled(str(self.job_id))
        self._hand_back_if_stopping()

    def ensure_lease(self) -> None:
        """Call right before each external side effect (a write to n8n, a push to Git): one
        read that proves this attempt still owns the job. Raises LeaseLost when
        another attempt took it over (this one was paused or presumed dead), JobCancelled
        when an operator asked to stop, HandBack when the worker is stopping and the kind
        may run again later."""
        self._hand_back_if_stopping()
        if attempts.check(self._claim):
            raise JobCancelled(str(self.job_id))

    @contextmanager
    def fenced_transaction(self) -> Iterator[dict[str, Any]]:
        """Run the block in one transaction of the job's session (``models.db.db``) that
        commits only if this attempt owns the job: the job row is locked first (LeaseLost
        if the lease is gone), so no reaper or other attempt can take the job over before
        the block's writes commit with it. Yields the effects recorded so far (``once``)."""
        row = db.execute(_LOCK_LEASE, self._fence()).one_or_none()
        if row is None:
            db.rollback()
            raise LeaseLost(str(self.job_id))
        try:
            yield row.effects
        except BaseException:
            db.rollback()
            raise
        db.commit()

    def once(self, key: str, effect: Callable[[], T]) -> T:
        """Run ``effect`` (database writes in the job's session) exactly once per job, across
        attempts: it commits in a fenced transaction together with the record that it ran,
        so a later attempt (after a crash, a pause, a hand-back) gets the recorded result
        instead of running it again. The result must be JSON."""
        with self.fenced_transaction() as done:
            if key in done:
                return done[key]
            result = effect()
            db.execute(_RECORD_EFFECT, {"job_id": self.job_id, "effect": {key: result}})
            return result

    def final_progress(self, message: str, *, done: bool) -> dict[str, Any]:
        state = dict(self.progress_state, message=message)
        if done:
            state["percentage"] = 100
            if state["total"] is not None:
                state["current"] = state["total"]
        return state

    def _fence(self) -> dict[str, Any]:
        return {"job_id": self._claim.job_id, "lease": self._claim.lease}

    def _hand_back_if_stopping(self) -> None:
        if shutting_down.is_set() and self._policy.requeue_if_stale:
            raise HandBack(str(self.job_id))


#: Every tracked actor this process declared, so load_actors can bind them to the broker.
DECLARED: list[dramatiq.Actor] = []


def job_actor(
    job_type: str,
    *,
    queue: str = "default",
    time_limit: timedelta = timedelta(minutes=10),
    max_attempts: int = 3,
    retry_backoff: timedelta = timedelta(seconds=5),
    requeue_if_stale: bool = True,
    stale_after: timedelta = timedelta(seconds=core.DEFAULT_STALE_AFTER_S),
) -> Callable:
    """Declare a tracked actor and its policy (see JobPolicy for each option)."""

    def decorator(func: Callable[[JobContext], dict | None]):
        policy = JobPolicy(
            job_type=job_type,
            actor_name=func.__name__,
            queue=queue,
            time_limit=time_limit,
            max_attempts=max_attempts,
            retry_backoff=retry_backoff,
            requeue_if_stale=requeue_if_stale,
            stale_after=stale_after,
        )
        core.register(policy)

        def run(job_id: str, tenant_id: str) -> None:
            outcome = execute(policy, func, uuid.UUID(job_id), uuid.UUID(tenant_id))
            telemetry.report_outcome(outcome)

        run.__name__ = func.__name__
        run.__doc__ = func.__doc__
        # Retries are the job core's (they are recorded on the row), never Dramatiq's.
        actor = dramatiq.actor(
            run,
            actor_name=func.__name__,
            queue_name=queue,
            max_retries=0,
            time_limit=int(time_limit.total_seconds() * 1000),
        )
        DECLARED.append(actor)
        return actor

    return decorator


def execute(policy: JobPolicy, func, job_id: uuid.UUID, tenant_id: uuid.UUID) -> str:
    """Run one delivery of a job message; returns its outcome (jobs/telemetry.py counts it)."""
    message = CurrentMessage.get_current_message()
    claim = _claim(job_id, tenant_id, message)
    if claim is None:
        return "duplicate"
    HEARTBEATS.track(claim, time_limit=policy.time_limit)
    try:
        return _run(policy, func, claim, JobContext(claim, policy))
    finally:
        HEARTBEATS.forget(claim)
        reset_context()


def _claim(job_id: uuid.UUID, tenant_id: uuid.UUID, message) -> Claim | None:
    key = core.broker_key(message) if message is not None else None
    try:
        claim = attempts.persist(
            lambda: attempts.claim(job_id, tenant_id, message_id=key),
            patience_s=CLAIM_PATIENCE_S,
            stop=shutting_down,
        )
    except attempts.DATABASE_DOWN:
        # Dead-lettering the message would strand the job until the relay noticed; a new
        # message goes back to the queue for a later try instead.
        log.warning("job %s: PostgreSQL unreachable; its message goes back to the queue", job_id)
        if message is not None:
            route = (q_name(message.queue_name), message.actor_name)
            dramatiq.get_broker().enqueue(core.message_for(job_id, tenant_id, route))
        return None
    if claim is None:
        log.info("job %s is not pending: duplicate delivery acked without work", job_id)
    return claim


def _run(policy: JobPolicy, func, claim: Claim, ctx: JobContext) -> str:
    try:
        with tenant_scope(claim.tenant_id), deadline.until(ctx.deadline):
            result = func(ctx)
    except JobCancelled:
        _record(claim, "cancelled", progress=ctx.final_progress("cancelled", done=False))
        return "cancelled"
    except HandBack:
        _retry(claim, error=None, delay=timedelta(0))
        return "handed_back"
    except LeaseLost:
        log.warning("job %s attempt %d: lease lost to another attempt; stopped", *_ids(claim))
        return "lease_lost"
    # TimeLimitExceeded is a BaseException raised into the thread by Dramatiq's time limit.
    except (Exception, TimeLimitExceeded) as error:
        # The traceback goes to the logs only: the API shows the error's class and message.
        log.warning("job %s attempt %d failed", *_ids(claim), exc_info=error)
        # An error may say retrying cannot help (a refused API key): then it fails now.
        if claim.attempt < claim.max_attempts and getattr(error, "retryable", True):
            _retry(claim, error=error, delay=policy.backoff(claim.attempt))
            return "retried"
        progress = ctx.final_progress("failed", done=False)
        _record(claim, "failed", error=error, progress=progress)
        return "failed"
    progress = ctx.final_progress("completed", done=True)
    _record(claim, "completed", result=result, progress=progress)
    return "completed"


def _record(claim: Claim, status: str, **outcome) -> None:
    """Record the attempt's outcome under its lease; say so when another attempt owns the
    job by now (this one was presumed dead: its outcome is not the job's)."""
    written = _persist_outcome(claim, lambda: attempts.finish(claim, status, **outcome))
    if written is False:
        log.warning(
            "job %s attempt %d: fenced out, its outcome (%s) was not recorded: another "
            "attempt owns the job",
            *_ids(claim),
            status,
        )


def _retry(claim: Claim, *, error: BaseException | None, delay: timedelta) -> None:
    """Back to pending for a later attempt (after ``delay``), then send its message when due."""
    released = _persist_outcome(claim, lambda: attempts.release(claim, error=error, delay=delay))
    if not released:
        if released is False:
            log.warning("job %s attempt %d: fenced out before its retry", *_ids(claim))
        return
    if delay:
        DUE_SENDS.schedule(claim.job_id, claim.tenant_id, after=delay)
    else:
        core.enqueue(claim.job_id, claim.tenant_id)


def _persist_outcome(claim: Claim, write: Callable[[], bool]) -> bool | None:
    """The write's answer, or None when PostgreSQL stayed out of reach (the reaper then
    settles the job from its stale heartbeat)."""
    try:
        return attempts.persist(write, patience_s=OUTCOME_PATIENCE_S)
    except attempts.DATABASE_DOWN:
        log.error("job %s attempt %d: outcome not recorded: PostgreSQL unreachable", *_ids(claim))
        return None


def _ids(claim: Claim) -> tuple[uuid.UUID, int]:
    return claim.job_id, claim.attempt
