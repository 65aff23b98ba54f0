"""``@job_actor``: a Dramatiq actor whose runs are tracked by the job core.

The decorator declares the kind's policy; the wrapper claims the job (or acks a duplicate),
sets the tenant for row-level security, runs the function with a JobContext, and records
the outcome under the attempt's lease. The actor function never touches background_jobs.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage, TimeLimitExceeded

from jobs import core, telemetry
from jobs.broker import shutting_down
from jobs.core import Claim, HandBack, JobCancelled, JobPolicy, LeaseLost
from models.db import reset_context, tenant_scope

log = logging.getLogger(__name__)

#: Seconds between progress writes of one job; each write is also a heartbeat and a
#: cancellation checkpoint.
PROGRESS_INTERVAL_S = 1.0


class JobContext:
    """What an actor sees of its job: ids, parameters, and progress reporting."""

    def __init__(self, claim: Claim, policy: JobPolicy) -> None:
        self._claim = claim
        self._policy = policy
        self._last_write = time.monotonic()
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
        JobCancelled when cancellation was asked, HandBack when the worker is stopping."""
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
        if core.heartbeat(self._claim, dict(state)):
            raise JobCancelled(str(self.job_id))
        if shutting_down.is_set() and self._policy.requeue_if_stale:
            raise HandBack(str(self.job_id))

    def final_progress(self, message: str, *, done: bool) -> dict[str, Any]:
        state = dict(self.progress_state, message=message)
        if done:
            state["percentage"] = 100
            if state["total"] is not None:
                state["current"] = state["total"]
        return state


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
    claim = core.claim(job_id, tenant_id, message_id=message.message_id if message else None)
    if claim is None:
        log.info("job %s is not pending: duplicate delivery acked without work", job_id)
        return "duplicate"
    ctx = JobContext(claim, policy)
    try:
        with tenant_scope(tenant_id):
            result = func(ctx)
    except JobCancelled:
        core.finish(claim, "cancelled", progress=ctx.final_progress("cancelled", done=False))
        outcome = "cancelled"
    except HandBack:
        core.release(claim, error=None, delay_ms=None)
        outcome = "handed_back"
    except LeaseLost:
        log.warning("job %s: lease lost to another attempt; this one stops", job_id)
        outcome = "lease_lost"
    # TimeLimitExceeded is a BaseException raised into the thread by Dramatiq's time limit.
    except (Exception, TimeLimitExceeded) as error:  # noqa: BLE001 - every failure is recorded
        # An error may say retrying cannot help (a refused API key): then it fails now.
        if claim.attempt < claim.max_attempts and getattr(error, "retryable", True):
            core.release(claim, error=error, delay_ms=policy.backoff_ms(claim.attempt))
            outcome = "retried"
        else:
            core.finish(
                claim, "failed", error=error, progress=ctx.final_progress("failed", done=False)
            )
            outcome = "failed"
    else:
        core.finish(
            claim, "completed", result=result, progress=ctx.final_progress("completed", done=True)
        )
        outcome = "completed"
    finally:
        reset_context()
    return outcome
