"""Environment health: one heartbeat job per tenant per slot probes all its environments; a
connection check probes one environment when its URL or API key changed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from jobs.actor import JobContext, job_actor
from jobs.schedule import Schedule, start_scheduled
from models.db import get_engine
from services import heartbeat

#: How often each tenant's environments are probed.
HEARTBEAT_EVERY = timedelta(minutes=5)
#: How late a missed fire may still run; later, the next slot is as good.
HEARTBEAT_MISFIRE_GRACE = timedelta(minutes=2)


# One attempt, never re-queued: the next beat, minutes later, is the retry. The time limit
# stays under the interval, so beats of one tenant never overlap.
@job_actor(
    "environment_heartbeat",
    queue="n8n",
    time_limit=timedelta(minutes=4),
    max_attempts=1,
    requeue_if_stale=False,
)
def environment_heartbeat(ctx: JobContext) -> dict:
    """Probe each environment of the tenant (reads only) and flag those that stop answering."""
    return heartbeat.beat(progress=ctx.progress)


# A connection's reads only; the next heartbeat checks again, so it is never repeated.
@job_actor(
    "connection_check",
    queue="n8n",
    time_limit=timedelta(minutes=1),
    max_attempts=1,
    requeue_if_stale=False,
)
def connection_check(ctx: JobContext) -> dict:
    """Probe one environment now (its URL or API key changed) and record what it answered."""
    return heartbeat.check(ctx.resource_id)


def plan_heartbeats(slot: datetime) -> int:
    """Start this slot's heartbeat of every tenant that has environments; returns how many."""
    with get_engine().connect() as conn:
        query = text("SELECT DISTINCT tenant_id FROM scheduled_environments()")
        tenant_ids = conn.execute(query).scalars().all()
    return sum(
        start_scheduled(
            "environment_heartbeat",
            tenant_id=tenant_id,
            schedule_key=f"environment_heartbeat:{tenant_id}",
            slot=slot,
            resource_type="tenant",
            resource_id=tenant_id,
            concurrency_key=f"environment_heartbeat:{tenant_id}",
        )
        for tenant_id in tenant_ids
    )


SCHEDULE = Schedule(
    key="environment_heartbeat",
    every=HEARTBEAT_EVERY,
    plan=plan_heartbeats,
    misfire_grace=HEARTBEAT_MISFIRE_GRACE,
)
