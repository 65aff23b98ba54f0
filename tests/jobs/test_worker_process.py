"""The real worker process (`dramatiq jobs.worker`): killed, and stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jobs import maintenance
from tests.jobs.helpers import read_job, start_job, wait_for
from tests.jobs.test_lifecycle import _backdate_heartbeat

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_process(settings):
    """Start `dramatiq jobs.worker` as the Procfile does; yields the Popen."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "DRAMATIQ_NAMESPACE": settings.dramatiq_namespace,
        "ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "LOG_LEVEL": "WARNING",
    }
    dramatiq_bin = Path(sys.executable).parent / "dramatiq"
    process = subprocess.Popen(
        [
            str(dramatiq_bin),
            "jobs.worker",
            "--processes",
            "1",
            "--threads",
            "2",
            "--worker-shutdown-timeout",
            "20000",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
