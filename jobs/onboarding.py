"""Onboarding a newly connected environment (job_type onboarding)."""

from __future__ import annotations

from datetime import timedelta

from jobs.actor import JobContext, job_actor
from services import onboarding


@job_actor("onboarding", queue="n8n", time_limit=timedelta(minutes=30), max_attempts=3)
def onboard_environment(ctx: JobContext) -> dict:
    """Test the connection, detect the version, then the first sync, ingestion, inventory."""
    return onboarding.onboard(ctx.resource_id, progress=ctx.progress)
