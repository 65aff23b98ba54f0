"""Workflow sync of one environment (job_type sync; one pending or running per environment)."""

from __future__ import annotations

from datetime import timedelta

from jobs.actor import JobContext, job_actor
from jobs.schedule import Schedule, environment_plan
from services import sync


@job_actor("sync", queue="n8n", time_limit=timedelta(minutes=30), max_attempts=3)
def sync_environment(ctx: JobContext) -> dict:
    """List the environment's workflows and update workflow_env_map."""
    return sync.sync_workflows(ctx.resource_id, progress=ctx.progress)


#: Every environment is refreshed from n8n on this cadence (reads only, never writes).
SCHEDULE = Schedule(
    key="sync",
    every=timedelta(minutes=15),
    plan=environment_plan("sync"),
    misfire_grace=timedelta(minutes=5),
)
