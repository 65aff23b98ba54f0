"""Canonical-workflow work that runs as jobs (issue 10)."""

from __future__ import annotations

from datetime import timedelta

from jobs.actor import JobContext, job_actor
from services import runtime_digest


@job_actor("workflow_rehash", queue="default", time_limit=timedelta(minutes=30), max_attempts=3)
def rehash_workflows(ctx: JobContext) -> dict:
    """Recompute every stored digest of the tenant under its current ignore rules."""
    return runtime_digest.rehash_tenant(progress=ctx.progress)
