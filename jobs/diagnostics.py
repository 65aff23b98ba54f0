"""Diagnostic kinds: prove the worker pipeline end to end, and measure the job core."""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta

import dramatiq
from sqlalchemy import text

from jobs.actor import JobContext, job_actor
from models.db import db
from services import audit


@job_actor("healthcheck", queue="default", time_limit=timedelta(seconds=30), max_attempts=1)
def healthcheck(ctx: JobContext) -> dict:
    """Reach the database (as the job's tenant) and the broker from a worker."""
    ctx.progress(current=0, total=2, message="database")
    visible = db.scalar(text("SELECT count(*) FROM tenants"))
    ctx.progress(current=1, total=2, message="broker")
    dramatiq.get_broker().client.ping()
    return {
        "database": "ok" if visible == 1 else f"saw {visible} tenants",
        "broker": "ok",
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


@job_actor(
    "noop",
    queue="default",
    time_limit=timedelta(minutes=5),
    max_attempts=3,
    retry_backoff=timedelta(seconds=1),
    stale_after=timedelta(seconds=15),
)
def noop(ctx: JobContext) -> dict:
    """Do nothing, optionally for ``steps`` x ``step_seconds`` with progress; then optionally
    fail the attempts before ``succeed_on_attempt`` (exercises retries); with ``effect``,
    record one audit entry exactly once per job, and when this attempt recorded it, wait
    ``hold_s`` (exercises a crash between a committed effect and the finish)."""
    steps = int(ctx.params.get("steps", 0))
    step_s = float(ctx.params.get("step_seconds", 0))
    for step in range(steps):
        time.sleep(step_s)
        ctx.progress(current=step + 1, total=steps, message=f"step {step + 1} of {steps}")
    if ctx.attempt < int(ctx.params.get("succeed_on_attempt", 1)):
        raise RuntimeError(f"attempt {ctx.attempt} fails on purpose")
    result = {"steps": steps, "attempt": ctx.attempt}
    if ctx.params.get("effect"):
        result["effect_by_attempt"] = ctx.once("effect", lambda: _effect(ctx))
        if result["effect_by_attempt"] == ctx.attempt:
            time.sleep(float(ctx.params.get("hold_s", 0)))
    return result


def _effect(ctx: JobContext) -> int:
    audit.record(
        "diagnostics.effect",
        resource_type="job",
        resource_id=ctx.job_id,
        new={"attempt": ctx.attempt},
    )
    return ctx.attempt
