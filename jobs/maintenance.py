"""The clock's two safety nets: the outbox relay and the stale-job reaper.

Both find work across tenants through their SECURITY DEFINER scans, then act on each job as
that job's tenant, with guarded updates, so a run that races a worker (or another clock)
changes nothing.

The relay sends pending jobs that are due but were never handed to the broker (the broker was
down at commit, a retry's backoff ended in a process that stopped), and asks the broker, for
every pending job whose message went out a while ago, whether that message is still there:
a message the broker lost (Redis restarted without persistence, a dead-lettered message, a
queue namespace nobody reads) is sent again.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dramatiq
from dramatiq.common import dq_name
from sqlalchemy import func, text, update

from jobs import attempts, core
from jobs.liveness import BEAT_EVERY_S
from models.db import get_engine
from models.jobs import BackgroundJob
from services import metrics

log = logging.getLogger(__name__)

#: Seconds a due pending job may wait for its send (after commit, or when its backoff ends)
#: before the relay sends it; the normal path takes milliseconds.
RELAY_AFTER_S = 5.0
#: Seconds after its message went out before a pending job's message is looked for in the
#: broker; a worker claims within milliseconds of fetching, so this only spares churn.
CHECK_AFTER_S = 10.0
#: Seconds after which a pending job whose message is still in the broker is sent again
#: anyway: the message may sit in the unacked set of a live worker that lost it (a fetch
#: whose reply was cut off). Duplicates are harmless: the claim is guarded.
RESEND_AFTER_S = 900.0
#: Most jobs one relay or reaper run sends or settles; the next run takes the rest.
BATCH = 500
#: Most sent jobs one relay run checks in the broker; the next run goes on from there.
CHECK_BATCH = 2_000
#: Seconds the reaper waits, after a run that could not reach PostgreSQL, before it acts
#: again: workers' heartbeats could not be written either, so they look stale until the
#: heartbeat threads catch up (each retries every second).
REAP_GRACE_S = 2 * BEAT_EVERY_S


def relay(
    *,
    older_than_s: float = RELAY_AFTER_S,
    check_after_s: float = CHECK_AFTER_S,
    resend_after_s: float = RESEND_AFTER_S,
) -> int:
    """Send due jobs never handed to the broker, and jobs whose message the broker lost;
    returns how many were sent."""
    sent = _send_unenqueued(older_than_s) + _resend_lost(check_after_s, resend_after_s)
    if sent:
        metrics.get().relay_sent.inc(sent)
    return sent


def _send_unenqueued(older_than_s: float) -> int:
    with get_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT id, tenant_id FROM jobs_unenqueued(:age, :limit)"),
            {"age": older_than_s, "limit": BATCH},
        ).all()
    sent = sum(core.enqueue(row.id, row.tenant_id) for row in rows)
    if rows:
        log.info("relay: %d of %d unsent jobs sent", sent, len(rows))
    return sent


#: Where the last relay run's broker check stopped, in (enqueued_at, id) order.
_checked_up_to: tuple[datetime, uuid.UUID] | None = None
_START = (datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))


def _resend_lost(check_after_s: float, resend_after_s: float) -> int:
    """Check the next CHECK_BATCH sent-but-pending jobs against the broker (wrapping around
    at the end, so every such job is checked every few runs)."""
    global _checked_up_to  # noqa: PLW0603 - the clock process's position, kept between runs
    after_at, after_id = _checked_up_to or _START
    with get_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM jobs_sent_pending(:age, :after_at, :after_id, :limit)"),
            {
                "age": check_after_s,
                "after_at": after_at,
                "after_id": after_id,
                "limit": CHECK_BATCH,
            },
        ).all()
        now = conn.scalar(text("SELECT now()"))
    _checked_up_to = (rows[-1].enqueued_at, rows[-1].id) if len(rows) == CHECK_BATCH else None
    if not rows:
        return 0
    present = _in_broker([(row.queue_name, row.message_id) for row in rows])
    lost = [
        row
        for row, there in zip(rows, present, strict=True)
        if not there or (now - row.enqueued_at).total_seconds() > resend_after_s
    ][:BATCH]
    sent = sum(core.resend(row.id, row.tenant_id, lost_message_id=row.message_id) for row in lost)
    if lost:
        log.warning(
            "relay: %d pending jobs sent again (message gone from the broker, or sent over "
            "%.0f s ago); %d sent",
            len(lost),
            resend_after_s,
            sent,
        )
    return sent


def _in_broker(messages: list[tuple[str, str | None]]) -> list[bool]:
    """Whether the broker still holds each (queue, message key): waiting in its queue or
    its delay queue, or fetched by a worker and not yet acknowledged."""
    broker = dramatiq.get_broker()
    pipe = broker.client.pipeline(transaction=False)
    for queue, key in messages:
        for name in (queue, dq_name(queue)):
            pipe.hexists(f"{broker.namespace}:{name}.msgs", key or "")
    found = pipe.execute()
    return [any(found[2 * i : 2 * i + 2]) for i in range(len(messages))]


@dataclass
class ReapReport:
    requeued: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    #: Stale jobs left alone this run (the reaper's grace after an outage, or an error).
    skipped: list = field(default_factory=list)


#: monotonic time before which the reaper only looks; set when PostgreSQL comes back.
_hold_until = 0.0
#: Whether the reaper's last run could not reach PostgreSQL.
_outage = False


def reap(*, limit: int = BATCH) -> ReapReport:
    """Re-queue (kinds safe to repeat) or fail running jobs whose heartbeat went stale."""
    global _hold_until, _outage  # noqa: PLW0603 - the clock process's view of its database
    report = ReapReport()
    try:
        with get_engine().connect() as conn:
            rows = conn.execute(
                text("SELECT * FROM jobs_stale(:age, :limit)"),
                {"age": _shortest_stale_after(), "limit": limit},
            ).all()
    except attempts.DATABASE_DOWN:
        _outage = True
        raise
    if _outage:
        _outage, _hold_until = False, time.monotonic() + REAP_GRACE_S
    if time.monotonic() < _hold_until:
        report.skipped = [row.id for row in rows]
        return report
    for row in rows:
        try:
            _settle(row, report)
        except Exception:
            log.exception("reaper: job %s left for the next run", row.id)
            report.skipped.append(row.id)
    if rows:
        metrics.get().reaped.labels("requeued").inc(len(report.requeued))
        metrics.get().reaped.labels("failed").inc(len(report.failed))
        log.info("reaper: %d re-queued, %d failed", len(report.requeued), len(report.failed))
    return report


def _shortest_stale_after() -> float:
    policies = core.registered_policies()
    if not policies:
        return core.DEFAULT_STALE_AFTER_S
    return min(core.DEFAULT_STALE_AFTER_S, *(p.stale_after.total_seconds() for p in policies))


def _settle(row, report: ReapReport) -> None:
    policy = _policy(row.job_type)
    with core.tenant_connection(row.tenant_id) as conn:
        job = conn.execute(
            update(BackgroundJob)
            .where(
                BackgroundJob.id == row.id,
                BackgroundJob.status == "running",
                # Untouched since the scan, and stale by this kind's own measure.
                BackgroundJob.heartbeat_at == row.heartbeat_at,
                BackgroundJob.heartbeat_at < func.now() - policy.stale_after,
            )
            .values(
                lease_token=None,
                **_verdict(policy, attempt=row.attempt, max_attempts=row.max_attempts),
            )
            .returning(BackgroundJob.status)
        ).one_or_none()
        settle_more = core.LOST_HANDLERS.get(row.job_type)
        if job is not None and job.status == "failed" and settle_more is not None:
            settle_more(conn, row.id)
    if job is None:
        return
    if job.status == "pending":
        report.requeued.append(row.id)
        core.enqueue(row.id, row.tenant_id)
    else:
        report.failed.append(row.id)


def _policy(job_type: str) -> core.JobPolicy:
    """The kind's policy; a kind this clock does not know (a newer release's, or one
    retired) is treated as not safe to repeat."""
    try:
        return core.policy_for(job_type)
    except LookupError:
        log.warning(
            "reaper: job type %r is unknown to this clock: failing, not repeating", job_type
        )
        return core.JobPolicy(job_type, actor_name="", requeue_if_stale=False)


def _verdict(policy: core.JobPolicy, *, attempt: int, max_attempts: int) -> dict:
    silent = int(policy.stale_after.total_seconds())
    message = f"The worker running this job stopped sending heartbeats for {silent} s."
    if policy.requeue_if_stale and attempt < max_attempts:
        message += " It was re-queued."
        values = {"status": "pending", "enqueued_at": None, "message_id": None}
    else:
        message += (
            " It ran out of attempts."
            if policy.requeue_if_stale
            else " This kind of job is not repeated automatically: check its target, then rerun."
        )
        values = {"status": "failed", "finished_at": func.now()}
    return {
        **values,
        "error_class": "WorkerLost",
        "error_message": message,
        "error_traceback": None,
        "attempts": attempts.history_entry(
            "worker_lost", error_class="WorkerLost", error_message=message
        ),
    }
