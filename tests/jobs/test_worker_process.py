"""The real worker process (`dramatiq jobs.worker`): killed, and stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from jobs import core, maintenance
from models.db import tenant_scope
from tests.jobs.helpers import read_job, start_job, wait_for, worker_command
from tests.jobs.test_lifecycle import _backdate_heartbeat

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def start_worker(settings):
    """Start `dramatiq jobs.worker` as the Procfile does, in a process group of its own;
    returns the Popen. Every worker started is killed at the end if still alive."""
    started = []

    def start(*, threads: int = 2, shutdown_ms: int = 20_000) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "DRAMATIQ_NAMESPACE": settings.dramatiq_namespace,
            "ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            # Jobs that reach fake n8n instances (loopback) and embedded Git repositories.
            "ALLOW_PRIVATE_NETWORKS": "true",
            "DATA_DIR": settings.data_dir,
            "LOG_LEVEL": "WARNING",
            "N8NOPS_ENV_FILE": "",
        }
        process = subprocess.Popen(
            worker_command(threads=threads, shutdown_ms=shutdown_ms),
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def worker_process(start_worker):
    return start_worker()


def test_a_killed_worker_loses_nothing(app, tenant, worker_process, worker):
    worker.pause()  # only the subprocess takes the job
    job_id = start_job(app, tenant.id, params={"steps": 40, "step_seconds": 0.1})
    running = wait_for(app, tenant.id, job_id, statuses=("running",), timeout=30)
    assert running.attempt == 1
    os.killpg(worker_process.pid, signal.SIGKILL)
    worker_process.wait()
    assert read_job(app, tenant.id, job_id).status == "running"
    # Time passes with no heartbeat; the clock's reaper re-queues the kind safe to repeat.
    _backdate_heartbeat(app, tenant.id, job_id, 3600)
    assert job_id in maintenance.reap().requeued
    worker.resume()
    job = wait_for(app, tenant.id, job_id, timeout=30)
    assert job.status == "completed"
    assert job.attempt == 2
    assert job.result == {"steps": 40, "attempt": 2}


def test_sigterm_hands_the_running_job_back(app, tenant, worker_process, worker):
    worker.pause()
    job_id = start_job(app, tenant.id, params={"steps": 40, "step_seconds": 0.1})
    wait_for(app, tenant.id, job_id, statuses=("running",), timeout=30)
    # A supervisor (honcho, systemd) signals the main process, which tells its workers.
    worker_process.send_signal(signal.SIGTERM)
    assert worker_process.wait(timeout=30) == 0
    handed_back = read_job(app, tenant.id, job_id)
    assert handed_back.status == "pending"
    assert handed_back.attempt == 0
    worker.resume()
    assert wait_for(app, tenant.id, job_id, timeout=30).status == "completed"


def test_sigterm_to_the_process_group_hands_running_jobs_back(app, tenant, start_worker, worker):
    """honcho, systemd and Heroku signal the whole group: the worker child gets SIGTERM from
    the platform and again from Dramatiq's main process (more when the platform repeats
    it), and must not take the second as "kill now". A job blocked past the shutdown timeout
    (no checkpoint) is handed back too."""
    worker.pause()
    process = start_worker(threads=4, shutdown_ms=3_000)
    checkpointing = [
        start_job(app, tenant.id, params={"steps": 30, "step_seconds": 0.1}) for _ in range(3)
    ]
    blocked = start_job(app, tenant.id, params={"steps": 1, "step_seconds": 60})
    for job_id in (*checkpointing, blocked):
        wait_for(app, tenant.id, job_id, statuses=("running",), timeout=30)
    os.killpg(process.pid, signal.SIGTERM)
    # Signals sent together coalesce; one that comes a little later must not kill either.
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    for job_id in (*checkpointing, blocked):
        handed_back = read_job(app, tenant.id, job_id)
        assert (handed_back.status, handed_back.attempt) == ("pending", 0), job_id
        assert handed_back.attempts[-1]["outcome"] == "handed_back"
    with app.app_context(), tenant_scope(tenant.id):
        core.cancel(blocked)  # nothing left to prove with it: spare the next worker a minute
    worker.resume()
    for job_id in checkpointing:
        assert wait_for(app, tenant.id, job_id, timeout=60).status == "completed"
