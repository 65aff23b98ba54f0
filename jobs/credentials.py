"""Credential jobs: refresh an environment's inventory, check its credentials' health; and the
schedule that checks every environment's credentials."""

from __future__ import annotations

from datetime import timedelta

from jobs.actor import JobContext, job_actor
from jobs.schedule import Schedule, environment_plan
from services import credential_health, credentials

#: How often every environment's credential health is checked.
HEALTH_EVERY = timedelta(minutes=60)
#: How late a missed hourly fire may still run (the clock restarting, a deploy).
HEALTH_MISFIRE_GRACE = timedelta(minutes=10)


@job_actor("credential_sync", queue="n8n", time_limit=timedelta(minutes=10))
def sync_credentials(ctx: JobContext) -> dict:
    """Refresh an environment's credential inventory (metadata only)."""
    return credentials.sync_inventory(ctx.resource_id, progress=ctx.progress)


@job_actor("credential_health", queue="n8n", time_limit=timedelta(minutes=20))
def check_credential_health(ctx: JobContext) -> dict:
    """Refresh the inventory, then check each credential (n8n's test, else its executions)."""
    return credential_health.check_health(ctx.resource_id, progress=ctx.progress)


SCHEDULES = (
    Schedule(
        key="credential_health",
        every=HEALTH_EVERY,
        plan=environment_plan("credential_health"),
        misfire_grace=HEALTH_MISFIRE_GRACE,
    ),
)
