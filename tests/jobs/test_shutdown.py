"""Stopping a worker: a repeated SIGTERM (a process-group signal plus its forward) is one stop
request; jobs still running at the end are handed back or failed, never left running."""

from __future__ import annotations

import os
import signal
from datetime import timedelta

from jobs import attempts, shutdown
from jobs.liveness import HEARTBEATS
from tests.jobs.helpers import read_job, start_job


def test_a_repeated_sigterm_is_one_stop_request():
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        shutdown.absorb_repeated_sigterm()
        shutdown.absorb_repeated_sigterm()  # wrapping twice wraps once
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_default_handler_is_left_alone():
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        shutdown.absorb_repeated_sigterm()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_jobs_still_running_at_exit_are_handed_back_or_failed(app, tenant):
    repeatable = start_job(app, tenant.id, "noop")
    once_only = start_job(app, tenant.id, "environment_heartbeat")
    claims = [
        attempts.claim(job_id, tenant.id, message_id=None) for job_id in (repeatable, once_only)
    ]
    for claim in claims:
        HEARTBEATS.track(claim, time_limit=timedelta(minutes=5))
    try:
        shutdown.settle_leftovers()
    finally:
        for claim in claims:
            HEARTBEATS.forget(claim)
    handed_back = read_job(app, tenant.id, repeatable)
    assert (handed_back.status, handed_back.attempt) == ("pending", 0)
    assert handed_back.enqueued_at is not None
    failed = read_job(app, tenant.id, once_only)
    assert failed.status == "failed"
    assert failed.error_class == "jobs.shutdown.WorkerStopped"
    assert "not repeated automatically" in failed.error_message
