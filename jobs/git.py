"""Git work that runs as jobs (job_type git_attach)."""

from __future__ import annotations

from datetime import timedelta

from jobs.actor import JobContext, job_actor
from services.git import attach


@job_actor("git_attach", queue="git", time_limit=timedelta(minutes=30), max_attempts=3)
def attach_embedded_repository(ctx: JobContext) -> dict:
    """Push the embedded repository's history to the new remote, then switch to it."""
    return attach.attach(ctx.params["environment_ids"], progress=ctx.progress)
