"""The clock's safety nets: the relay asks the broker whether each pending job's message is
still there and sends lost ones again; retries wait in PostgreSQL, not in memory; the reaper
survives kinds it does not know and waits out an outage of its own database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
import sqlalchemy.exc
from sqlalchemy import update

from jobs import attempts, maintenance
from models.db import db, reset_context, tenant_scope
from models.jobs import BackgroundJob
from tests.jobs.helpers import read_job, start_job, wait_for
from tests.jobs.test_lifecycle import _backdate_heartbeat


def _queued_keys(queue: str = "default") -> set[str]:
    broker = dramatiq.get_broker()
    return {key.decode() for key in broker.client.hkeys(f"{broker.namespace}:{queue}.msgs")}


def _lose(message_key: str, queue: str = "default") -> None:
    """What a Redis restart without persistence does to one message."""
    broker = dramatiq.get_broker()
    broker.client.hdel(f"{broker.namespace}:{queue}.msgs", message_key)
    broker.client.lrem(f"{broker.namespace}:{queue}", 0, message_key)


def _set(app, tenant_id, job_id, **values) -> None:
    with app.app_context(), tenant_scope(tenant_id):
        db.execute(update(BackgroundJob).where(BackgroundJob.id == job_id).values(**values))
        db.commit()
        reset_context()


def test_a_message_the_broker_lost_is_sent_again(app, tenant):
    job_id = start_job(app, tenant.id)
    lost = read_job(app, tenant.id, job_id).message_id
    assert lost in _queued_keys()
    _lose(lost)
    assert maintenance.relay(check_after_s=0) >= 1
    again = read_job(app, tenant.id, job_id).message_id
    assert again != lost and again in _queued_keys()


def test_a_message_still_in_the_broker_is_left_alone(app, tenant):
    job_id = start_job(app, tenant.id)
    before = read_job(app, tenant.id, job_id).message_id
    maintenance.relay(check_after_s=0)
    assert read_job(app, tenant.id, job_id).message_id == before


def test_a_dead_lettered_message_counts_as_lost(app, tenant, worker):
    worker.pause()
    job_id = start_job(app, tenant.id)
    key = read_job(app, tenant.id, job_id).message_id
    broker = dramatiq.get_broker()
    data = broker.client.hget(f"{broker.namespace}:default.msgs", key)
    _lose(key)
    broker.client.zadd(f"{broker.namespace}:default.XQ", {key: 0})
    broker.client.hset(f"{broker.namespace}:default.XQ.msgs", key, data)
    maintenance.relay(check_after_s=0)
    worker.resume()
    assert wait_for(app, tenant.id, job_id).status == "completed"


def test_a_retry_waits_in_the_database_and_the_relay_sends_it_when_due(app, tenant):
    job_id = start_job(app, tenant.id)
    claim = attempts.claim(job_id, tenant.id, message_id=None)
    # The attempt fails; its worker process stops before the backoff is over.
    assert attempts.release(claim, error=RuntimeError("boom"), delay=timedelta(minutes=5))
    job = read_job(app, tenant.id, job_id)
    assert (job.status, job.enqueued_at, job.message_id) == ("pending", None, None)
    assert job.not_before > datetime.now(UTC) + timedelta(minutes=4)
    assert maintenance.relay(older_than_s=0) == 0
    _set(app, tenant.id, job_id, not_before=datetime.now(UTC) - timedelta(seconds=1))
    assert maintenance.relay(older_than_s=0) == 1
    assert read_job(app, tenant.id, job_id).message_id in _queued_keys()


def test_a_retry_is_sent_by_its_worker_when_the_backoff_is_over(app, tenant, worker):
    job_id = start_job(app, tenant.id, params={"succeed_on_attempt": 2})
    job = wait_for(app, tenant.id, job_id)
    assert (job.status, job.attempt) == ("completed", 2)
    retry = job.attempts[0]
    assert retry["outcome"] == "retry"
    # noop's backoff is 1 s: the second attempt started no earlier.
    assert job.started_at < datetime.fromisoformat(retry["at"]) + timedelta(seconds=1)
    assert job.finished_at >= datetime.fromisoformat(retry["at"]) + timedelta(seconds=1)


def test_the_reaper_fails_a_stale_job_of_a_kind_it_does_not_know(app, tenant):
    # retention_purge is a valid job type that no actor of this release registers.
    unknown = start_job(app, tenant.id, "noop")
    _set(app, tenant.id, unknown, job_type="retention_purge")
    known = start_job(app, tenant.id)
    for job_id in (unknown, known):
        assert attempts.claim(job_id, tenant.id, message_id=None)
        _backdate_heartbeat(app, tenant.id, job_id, 3600)
    report = maintenance.reap()
    assert unknown in report.failed and known in report.requeued
    job = read_job(app, tenant.id, unknown)
    assert job.status == "failed" and "not repeated automatically" in job.error_message


def test_the_reaper_waits_after_its_database_came_back(app, tenant, monkeypatch):
    # The reaper's view of its database is process state: restored after the test.
    monkeypatch.setattr(maintenance, "_hold_until", 0.0)
    monkeypatch.setattr(maintenance, "_outage", False)
    job_id = start_job(app, tenant.id)
    assert attempts.claim(job_id, tenant.id, message_id=None)
    _backdate_heartbeat(app, tenant.id, job_id, 3600)
    engine = maintenance.get_engine

    def unreachable():
        raise sqlalchemy.exc.OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(maintenance, "get_engine", unreachable)
    with pytest.raises(sqlalchemy.exc.OperationalError):
        maintenance.reap()
    monkeypatch.setattr(maintenance, "get_engine", engine)
    # Workers could not write heartbeats either: right after, stale rows are left alone.
    assert job_id in maintenance.reap().skipped
    maintenance._hold_until = 0.0  # the grace is over
    assert job_id in maintenance.reap().requeued


def test_the_relay_checks_every_sent_job_over_successive_runs(app, tenant, monkeypatch):
    jobs = [start_job(app, tenant.id) for _ in range(5)]
    first = read_job(app, tenant.id, jobs[0])
    # Two jobs a run, starting from these five (earlier tests left pending jobs too).
    monkeypatch.setattr(maintenance, "CHECK_BATCH", 2)
    start = (first.enqueued_at - timedelta(microseconds=1), first.id)
    monkeypatch.setattr(maintenance, "_checked_up_to", start)
    lost = read_job(app, tenant.id, jobs[-1]).message_id
    _lose(lost)
    for expected in (lost, lost, None):
        maintenance.relay(check_after_s=0)
        again = read_job(app, tenant.id, jobs[-1]).message_id
        assert (again == lost) == (expected == lost)


def test_messages_carry_a_broker_key_the_relay_can_look_up(app, tenant):
    job_id = start_job(app, tenant.id)
    broker = dramatiq.get_broker()
    key = read_job(app, tenant.id, job_id).message_id
    sent = json.loads(broker.client.hget(f"{broker.namespace}:default.msgs", key))
    assert sent["args"] == [str(job_id), str(tenant.id)]
