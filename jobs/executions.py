"""Execution ingestion of one environment (job_type execution_ingestion; one pending or
running per environment)."""

from __future__ import annotations

from datetime import timedelta

from jobs.actor import JobContext, job_actor
from jobs.schedule import Schedule, environment_plan
from services import ingestion


# A first ingestion reads the whole retention window and fetches run data per failure; a
# run cut short keeps what it stored, so the next one finishes the rest.
@job_actor(
    "execution_ingestion",
    queue="ingestion",
    time_limit=timedelta(minutes=30),
    max_attempts=3,
    requeue_if_stale=True,
)
def ingest_executions(ctx: JobContext) -> dict:
    """Read the environment's new executions from n8n and re-read its unfinished ones."""
    return ingestion.ingest(ctx.resource_id, progress=ctx.progress)


#: Every environment's executions are read on this cadence; a run still going when the next
#: slot comes holds the concurrency key, and that slot is skipped.
SCHEDULE = Schedule(
    key="execution_ingestion",
    every=timedelta(minutes=5),
    plan=environment_plan("execution_ingestion"),
    misfire_grace=timedelta(minutes=2),
)
