"""A worker process keeps the heartbeat of every job it runs, whatever the job is doing;
and sends a retry's message when its backoff is over."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from jobs import attempts, maintenance
from jobs.liveness import DueSends, Heartbeats
from tests.jobs.helpers import read_job, start_job
from tests.jobs.test_lifecycle import _backdate_heartbeat


def _fresh(app, tenant_id, job_id) -> bool:
    beat = read_job(app, tenant_id, job_id).heartbeat_at
    return beat > datetime.now(UTC) - timedelta(seconds=5)


def _wait(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_job_blocked_between_checkpoints_keeps_its_heartbeat(app, tenant, other_tenant):
    heartbeats = Heartbeats(every_s=0.1)
    jobs = {t.id: start_job(app, t.id) for t in (tenant, other_tenant)}
    claims = [attempts.claim(job_id, t, message_id=None) for t, job_id in jobs.items()]
    try:
        for claim in claims:
            heartbeats.track(claim, time_limit=timedelta(minutes=5))
            _backdate_heartbeat(app, claim.tenant_id, claim.job_id, 3600)
        # The actors write nothing (blocked in a call, say): the process beats for them.
        assert _wait(lambda: all(_fresh(app, t, job_id) for t, job_id in jobs.items()))
        assert not set(jobs.values()) & set(maintenance.reap().requeued)
    finally:
        heartbeats.stop()


def test_no_heartbeat_past_the_time_limit_or_after_the_lease_is_lost(app, tenant):
    heartbeats = Heartbeats(every_s=3600)
    heartbeats.stop()  # beats only when asked here
    overran, superseded = start_job(app, tenant.id), start_job(app, tenant.id)
    first = attempts.claim(overran, tenant.id, message_id=None)
    heartbeats.track(first, time_limit=timedelta(0))
    lost = attempts.claim(superseded, tenant.id, message_id=None)
    heartbeats.track(lost, time_limit=timedelta(minutes=5))
    _backdate_heartbeat(app, tenant.id, superseded, 3600)
    assert superseded in maintenance.reap().requeued
    successor = attempts.claim(superseded, tenant.id, message_id=None)
    _backdate_heartbeat(app, tenant.id, overran, 3600)
    _backdate_heartbeat(app, tenant.id, superseded, 3600)
    # The overrun attempt may be stuck where its time limit cannot reach: it gets no more
    # heartbeats, so the reaper takes the job. The superseded one's beat writes nothing.
    assert heartbeats.beat() == 0
    assert not _fresh(app, tenant.id, overran)
    assert not _fresh(app, tenant.id, superseded)
    assert successor.attempt == 2


def test_a_retry_is_sent_when_its_backoff_is_over(app, tenant):
    job_id = start_job(app, tenant.id)
    claim = attempts.claim(job_id, tenant.id, message_id=None)
    delay = timedelta(milliseconds=300)
    assert attempts.release(claim, error=RuntimeError("boom"), delay=delay)
    DueSends().schedule(job_id, tenant.id, after=delay)
    assert read_job(app, tenant.id, job_id).enqueued_at is None
    assert _wait(lambda: read_job(app, tenant.id, job_id).enqueued_at is not None)
    job = read_job(app, tenant.id, job_id)
    assert job.enqueued_at >= job.not_before
