"""Drift work that runs as jobs (issue 11): the check of one environment, the TTL checker and
retention of a tenant, and the two resolutions of an incident (revert, keep hotfix)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from jobs.actor import JobContext, job_actor
from jobs.schedule import Schedule, start_scheduled
from models.db import get_engine
from models.drift import DEFAULT_CHECK_INTERVAL_MINUTES
from services.drift import checks, detection, resolution, retention, ttl

#: Hours before expiry an incident is warned unless its policy says otherwise.
DEFAULT_WARNING_HOURS = 24


@job_actor("drift_check", queue="n8n", time_limit=timedelta(minutes=30), max_attempts=2)
def check_drift(ctx: JobContext) -> dict:
    """Refresh the environment from n8n and Git, compare, record, open or grow its incident."""
    return detection.check(
        ctx.resource_id,
        check_type=ctx.params.get("check_type", "scheduled"),
        job_id=ctx.job_id,
        progress=ctx.progress,
    )


# Resolutions write to n8n and Git: re-run only by a person (the lease guards each write,
# and a re-run is idempotent: the same versions written again, a commit with no change).
@job_actor(
    "drift_revert", queue="n8n", time_limit=timedelta(minutes=30), max_attempts=1,
    requeue_if_stale=False,
)  # fmt: skip
def revert_drift(ctx: JobContext) -> dict:
    """Write the approved Git versions back into the environment, re-check, reconcile."""
    return resolution.run(ctx, "revert")


@job_actor(
    "drift_keep_hotfix", queue="git", time_limit=timedelta(minutes=30), max_attempts=1,
    requeue_if_stale=False,
)  # fmt: skip
def keep_hotfix(ctx: JobContext) -> dict:
    """Commit the running versions as the approved ones, re-check, reconcile."""
    return resolution.run(ctx, "keep_hotfix")


def plan_checks(slot: datetime) -> int:
    """Start the check of every non-DEV environment whose own cadence has a new slot now."""
    with get_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM drift_checks_due(:now, :every)"),
            {"now": slot, "every": DEFAULT_CHECK_INTERVAL_MINUTES},
        ).all()
    return sum(
        start_scheduled(
            checks.JOB_TYPE,
            tenant_id=row.tenant_id,
            schedule_key=f"{checks.JOB_TYPE}:{row.environment_id}",
            slot=row.slot,
            resource_type="environment",
            resource_id=row.environment_id,
            params={"check_type": "scheduled"},
            concurrency_key=checks.concurrency_key(row.environment_id),
        )
        for row in rows
    )


@job_actor("drift_ttl", queue="default", time_limit=timedelta(minutes=5), max_attempts=3)
def check_ttls(ctx: JobContext) -> dict:
    """Warn of incidents about to expire, mark the expired ones (never closing them)."""
    return ttl.run()


@job_actor("drift_retention", queue="default", time_limit=timedelta(minutes=30), max_attempts=3)
def purge_drift(ctx: JobContext) -> dict:
    """Empty the payloads of closed incidents and artifacts past the policy's days."""
    return retention.purge()


def _tenant_plan(job_type: str, query: str, **params):
    """A plan starting one ``job_type`` job per tenant that ``query`` returns."""

    def plan(slot: datetime) -> int:
        with get_engine().connect() as conn:
            tenants = conn.execute(text(query), params).scalars().all()
        return sum(
            start_scheduled(
                job_type,
                tenant_id=tenant_id,
                schedule_key=job_type,
                slot=slot,
                concurrency_key=job_type,
            )
            for tenant_id in tenants
        )

    return plan


#: Every minute the clock asks which environments' cadences (policy check_interval_minutes,
#: default 5) start a new slot; each slot's check is inserted once.
SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        key="drift_check",
        every=timedelta(minutes=1),
        plan=plan_checks,
        misfire_grace=timedelta(seconds=50),
    ),
    # Only tenants with an incident due for a warning or expiry get a job.
    Schedule(
        key="drift_ttl",
        every=timedelta(minutes=1),
        plan=_tenant_plan(
            "drift_ttl", "SELECT * FROM drift_ttl_due(:hours)", hours=DEFAULT_WARNING_HOURS
        ),
        misfire_grace=timedelta(seconds=50),
    ),
    Schedule(
        key="drift_retention",
        every=timedelta(days=1),
        plan=_tenant_plan("drift_retention", "SELECT * FROM all_tenant_ids()"),
        misfire_grace=timedelta(hours=6),
    ),
)
