"""Helpers for job tests: start jobs as a tenant, read them back, wait for a state."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

from jobs import core
from models.db import db, reset_context, tenant_scope
from models.jobs import TERMINAL_STATUSES, BackgroundJob


def start_job(app, tenant_id: uuid.UUID, job_type: str = "noop", **options) -> uuid.UUID:
    with app.app_context(), tenant_scope(tenant_id):
        job = core.start(job_type, **options)
        db.commit()
        job_id = job.id
        reset_context()
    return job_id


def read_job(app, tenant_id: uuid.UUID, job_id: uuid.UUID) -> BackgroundJob:
    with app.app_context(), tenant_scope(tenant_id):
        job = db.get(BackgroundJob, job_id)
        reset_context()
    return job


def wait_for(app, tenant_id, job_id, statuses=TERMINAL_STATUSES, timeout=15.0) -> BackgroundJob:
    deadline = time.monotonic() + timeout
    while True:
        job = read_job(app, tenant_id, job_id)
        if job.status in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stayed {job.status}, expected {statuses}")
        time.sleep(0.05)


def worker_command(*, threads: int, shutdown_ms: int) -> list[str]:
    """`dramatiq jobs.worker` as the Procfile runs it (one process)."""
    return [
        str(Path(sys.executable).parent / "dramatiq"),
        "jobs.worker",
        "--processes",
        "1",
        "--threads",
        str(threads),
        "--worker-shutdown-timeout",
        str(shutdown_ms),
    ]
