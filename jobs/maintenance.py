"""The clock's two safety nets: the outbox relay and the stale-job reaper.

Both find work across tenants through their SECURITY DEFINER scans, then act on each job as
that job's tenant, with guarded updates, so a run that races a worker changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import func, text, update

from jobs import core
from models.db import get_engine
from models.jobs import BackgroundJob
from services import metrics

log = logging.getLogger(__name__)

#: Seconds a committed pending job may wait for its post-commit enqueue before the relay
#: sends it; the normal path takes milliseconds.
RELAY_AFTER_S = 5.0
#: Seconds after which a pending job whose message went out but never started is sent again
#: (a consumer lost it); duplicates are harmless, the claim is guarded.
RESEND_AFTER_S = 900.0
#: Most jobs one relay or reaper run handles; the next run takes the rest.
BATCH = 500


def relay(
    *,
    older_than_s: float = RELAY_AFTER_S,
    resend_after_s: float = RESEND_AFTER_S,
    limit: int = BATCH,
) -> int:
    """Send pending jobs committed but never handed to the broker, or sent long ago and
    never started."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT id, tenant_id FROM jobs_unenqueued(:age, :stale, :limit)"),
            {"age": older_than_s, "stale": resend_after_s, "limit": limit},
        ).all()
    sent = sum(core.enqueue(row.id, row.tenant_id) for row in rows)
    if rows:
        metrics.get().relay_sent.inc(sent)
        log.info("relay: %d of %d unenqueued jobs sent", sent, len(rows))
    return sent


@dataclass
class ReapReport:
    requeued: list = field(default_factory=list)
    failed: list = field(default_factory=list)


def reap(*, limit: int = BATCH) -> ReapReport:
    """Re-queue (kinds safe to repeat) or fail running jobs whose heartbeat went stale."""
    report = ReapReport()
    policies = core.registered_policies()
    if not policies:
        return report
    shortest = min(p.stale_after.total_seconds() for p in policies)
    with get_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM jobs_stale(:age, :limit)"),
            {"age": shortest, "limit": limit},
        ).all()
    for row in rows:
        policy = core.policy_for(row.job_type)
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
        if job is None:
            continue
        if job.status == "pending":
            report.requeued.append(row.id)
            core.enqueue(row.id, row.tenant_id)
        else:
            report.failed.append(row.id)
    if rows:
        metrics.get().reaped.labels("requeued").inc(len(report.requeued))
        metrics.get().reaped.labels("failed").inc(len(report.failed))
        log.info("reaper: %d re-queued, %d failed", len(report.requeued), len(report.failed))
    return report


def _verdict(policy: core.JobPolicy, *, attempt: int, max_attempts: int) -> dict:
    silent = int(policy.stale_after.total_seconds())
    message = f"The worker running this job stopped sending heartbeats for {silent} s."
    if policy.requeue_if_stale and attempt < max_attempts:
        return {
            "status": "pending",
            "enqueued_at": None,
            "error_class": "WorkerLost",
            "error_message": message + " It was re-queued.",
        }
    advice = (
        " It ran out of attempts."
        if policy.requeue_if_stale
        else " This kind of job is not repeated automatically: check its target, then rerun."
    )
    return {
        "status": "failed",
        "finished_at": func.now(),
        "error_class": "WorkerLost",
        "error_message": message + advice,
    }
