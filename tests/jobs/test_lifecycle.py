"""The job lifecycle against real PostgreSQL and Redis, with a real Dramatiq worker."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import update

from jobs import attempts, core, maintenance
from jobs.schedule import EPOCH, Schedule, fire, slot_for, start_scheduled
from models.db import db, tenant_scope
from models.jobs import BackgroundJob
from services.errors import Conflict
from tests.jobs.helpers import read_job, start_job, wait_for


def _redis_messages(broker: RedisBroker, queue: str = "default") -> list[dict]:
    raw = broker.client.hvals(f"{broker.namespace}:{queue}.msgs")
    return [json.loads(m) for m in raw]


def _backdate_heartbeat(app, tenant_id, job_id, seconds: float) -> None:
    with app.app_context(), tenant_scope(tenant_id):
        db.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id == job_id)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )
        db.commit()


def test_job_runs_to_completion_with_its_result(app, tenant, worker):
    job_id = start_job(app, tenant.id, params={"steps": 2})
    job = wait_for(app, tenant.id, job_id)
    assert job.status == "completed"
    assert job.result == {"steps": 2, "attempt": 1}
    assert job.progress["percentage"] == 100
    assert job.attempt == 1
    assert job.enqueued_at <= job.started_at <= job.finished_at
    assert job.lease_token is None


def test_message_carries_only_ids(app, tenant):
    job_id = start_job(app, tenant.id, params={"steps": 1})
    messages = [m for m in _redis_messages(dramatiq.get_broker()) if m["args"][0] == str(job_id)]
    assert len(messages) == 1
    assert messages[0]["args"] == [str(job_id), str(tenant.id)]
    assert messages[0]["kwargs"] == {}
    assert messages[0]["actor_name"] == "noop"
    job = read_job(app, tenant.id, job_id)
    assert job.enqueued_at is not None
    assert job.message_id == messages[0]["options"]["redis_message_id"]


def test_nothing_is_enqueued_when_the_transaction_rolls_back(app, tenant):
    with app.app_context(), tenant_scope(tenant.id):
        job = core.start("noop")
        job_id = job.id
        db.rollback()
        assert db.get(BackgroundJob, job_id) is None
    sent = [m for m in _redis_messages(dramatiq.get_broker()) if m["args"][0] == str(job_id)]
    assert sent == []


def test_duplicate_delivery_completes_once(app, tenant, worker):
    job_id = start_job(app, tenant.id, params={"steps": 1, "step_seconds": 0.2})
    broker = dramatiq.get_broker()
    duplicate = dramatiq.Message(
        queue_name="default",
        actor_name="noop",
        args=(str(job_id), str(tenant.id)),
        kwargs={},
        options={},
    )
    broker.enqueue(duplicate)
    broker.enqueue(duplicate)
    job = wait_for(app, tenant.id, job_id)
    broker.join("default", timeout=10_000)
    job = read_job(app, tenant.id, job_id)
    assert job.status == "completed"
    assert job.attempt == 1
    assert job.result["attempt"] == 1


def test_a_second_claim_of_the_same_job_gets_nothing(app, tenant):
    job_id = start_job(app, tenant.id)
    first = attempts.claim(job_id, tenant.id, message_id="m1")
    assert first is not None
    assert attempts.claim(job_id, tenant.id, message_id="m2") is None
    assert attempts.finish(first, "completed", result={"ok": True})
    assert attempts.claim(job_id, tenant.id, message_id="m3") is None
    assert read_job(app, tenant.id, job_id).status == "completed"


def test_a_stale_lease_cannot_write(app, tenant):
    job_id = start_job(app, tenant.id)
    old = attempts.claim(job_id, tenant.id, message_id="m1")
    # The old attempt is presumed dead: the reaper re-queues, a new attempt claims.
    _backdate_heartbeat(app, tenant.id, job_id, 3600)
    assert job_id in maintenance.reap().requeued
    new = attempts.claim(job_id, tenant.id, message_id="m2")
    assert new.lease != old.lease and new.attempt == 2
    with pytest.raises(attempts.LeaseLost):
        attempts.heartbeat(old, {"current": 99, "total": 100, "percentage": 99, "message": "late"})
    assert attempts.finish(old, "failed", error=RuntimeError("late")) is False
    assert attempts.finish(new, "completed", result={"winner": "new"})
    job = read_job(app, tenant.id, job_id)
    assert (job.status, job.result) == ("completed", {"winner": "new"})
    assert job.progress.get("message") != "late"


def test_failed_attempts_are_retried_then_succeed(app, tenant, worker):
    job_id = start_job(app, tenant.id, params={"succeed_on_attempt": 2})
    job = wait_for(app, tenant.id, job_id)
    assert job.status == "completed"
    assert job.attempt == 2
    # A completed job shows no error; the failure of attempt 1 stays in the history.
    assert (job.error_class, job.error_message, job.error_traceback) == (None, None, None)
    first, second = job.attempts
    assert (first["attempt"], first["outcome"]) == (1, "retry")
    assert first["error_class"] == "builtins.RuntimeError"
    assert first["error_message"] == "attempt 1 fails on purpose"
    assert (second["attempt"], second["outcome"], second["error_class"]) == (2, "completed", None)


def test_a_failed_attempt_logs_its_traceback(app, tenant, worker, caplog):
    caplog.set_level(logging.WARNING, logger="jobs.actor")
    job_id = start_job(app, tenant.id, params={"succeed_on_attempt": 2})
    assert wait_for(app, tenant.id, job_id).status == "completed"
    (record,) = [r for r in caplog.records if r.getMessage().endswith("attempt 1 failed")]
    assert str(job_id) in record.getMessage()
    assert "attempt 1 fails on purpose" in caplog.text and "Traceback" in caplog.text


def test_a_job_out_of_attempts_fails_with_its_error(app, tenant, worker):
    job_id = start_job(app, tenant.id, params={"succeed_on_attempt": 99})
    job = wait_for(app, tenant.id, job_id)
    assert job.status == "failed"
    assert job.attempt == job.max_attempts == 3
    assert job.error_message == "attempt 3 fails on purpose"
    assert "RuntimeError" in job.error_traceback
    assert job.finished_at is not None


def test_lost_enqueue_is_resent_by_the_relay(app, tenant, settings, worker):
    working = dramatiq.get_broker()
    # Redis is down at commit time: the row commits, the message does not go out.
    dramatiq.set_broker(RedisBroker(url="redis://127.0.0.1:1/0"))
    try:
        job_id = start_job(app, tenant.id)
    finally:
        dramatiq.set_broker(working)
    job = read_job(app, tenant.id, job_id)
    assert (job.status, job.enqueued_at) == ("pending", None)
    assert maintenance.relay(older_than_s=0) >= 1
    assert wait_for(app, tenant.id, job_id).status == "completed"


def test_the_relay_leaves_enqueued_jobs_alone(app, tenant):
    job_id = start_job(app, tenant.id)
    before = read_job(app, tenant.id, job_id)
    maintenance.relay(older_than_s=0)
    assert read_job(app, tenant.id, job_id).message_id == before.message_id


def test_running_job_whose_worker_vanished_is_requeued_and_completes(app, tenant, worker):
    worker.pause()
    job_id = start_job(app, tenant.id, params={"steps": 1})
    # A worker took it and died: running, no heartbeat for longer than the kind allows.
    claimed = attempts.claim(job_id, tenant.id, message_id="dead-worker")
    assert claimed is not None
    _backdate_heartbeat(app, tenant.id, job_id, 3600)
    worker.resume()
    report = maintenance.reap()
    assert job_id in report.requeued
    job = wait_for(app, tenant.id, job_id)
    assert job.status == "completed"
    assert job.attempt == 2
    # The completed job shows no error; the lost attempt is in its history.
    assert job.error_class is None
    assert [(a["attempt"], a["outcome"], a["error_class"]) for a in job.attempts] == [
        (1, "worker_lost", "WorkerLost"),
        (2, "completed", None),
    ]


def test_stale_job_out_of_attempts_is_failed_with_a_clear_error(app, tenant):
    job_id = start_job(app, tenant.id, "healthcheck")
    attempts.claim(job_id, tenant.id, message_id="dead-worker")
    _backdate_heartbeat(app, tenant.id, job_id, 3600)
    assert job_id in maintenance.reap().failed
    job = read_job(app, tenant.id, job_id)
    assert job.status == "failed"
    assert "stopped sending heartbeats" in job.error_message


def test_the_reaper_leaves_live_jobs_alone(app, tenant):
    job_id = start_job(app, tenant.id)
    attempts.claim(job_id, tenant.id, message_id="alive")
    report = maintenance.reap()
    assert job_id not in report.requeued + report.failed
    assert read_job(app, tenant.id, job_id).status == "running"


def test_cancel_of_a_pending_job_is_immediate(app, tenant):
    job_id = start_job(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        job = core.cancel(job_id)
    assert job.status == "cancelled"
    assert attempts.claim(job_id, tenant.id, message_id="late") is None


def test_cancel_of_a_running_job_stops_it_at_a_checkpoint(app, tenant, worker):
    job_id = start_job(app, tenant.id, params={"steps": 50, "step_seconds": 0.1})
    wait_for(app, tenant.id, job_id, statuses=("running",))
    with app.app_context(), tenant_scope(tenant.id):
        core.cancel(job_id)
    job = wait_for(app, tenant.id, job_id)
    assert job.status == "cancelled"
    assert job.progress["current"] < 50


def test_cancel_of_a_finished_job_is_a_conflict(app, tenant, worker):
    job_id = start_job(app, tenant.id)
    wait_for(app, tenant.id, job_id)
    with app.app_context(), tenant_scope(tenant.id), pytest.raises(Conflict):
        core.cancel(job_id)


def test_worker_shutdown_hands_running_jobs_back(app, tenant):
    stopping = dramatiq.Worker(dramatiq.get_broker(), worker_threads=2, worker_timeout=100)
    stopping.start()
    job_id = start_job(app, tenant.id, params={"steps": 30, "step_seconds": 0.1})
    wait_for(app, tenant.id, job_id, statuses=("running",))
    stopping.stop()
    job = read_job(app, tenant.id, job_id)
    assert job.status == "pending"
    assert job.attempt == 0  # a hand-back does not use up an attempt
    successor = dramatiq.Worker(dramatiq.get_broker(), worker_threads=2, worker_timeout=100)
    successor.start()
    try:
        assert wait_for(app, tenant.id, job_id).status == "completed"
    finally:
        successor.stop()


def test_idempotency_key_returns_the_same_job(app, tenant):
    first = start_job(app, tenant.id, idempotency_key="key-1")
    second = start_job(app, tenant.id, idempotency_key="key-1")
    assert first == second


def test_concurrency_key_allows_one_active_job(app, tenant, worker):
    worker.pause()
    first = start_job(app, tenant.id, concurrency_key="sync:env-1")
    with pytest.raises(Conflict) as refused:
        start_job(app, tenant.id, concurrency_key="sync:env-1")
    assert refused.value.details["job_id"] == str(first)
    worker.resume()
    wait_for(app, tenant.id, first)
    # Once the first finished, the key is free again.
    assert start_job(app, tenant.id, concurrency_key="sync:env-1") != first


def test_two_clocks_firing_the_same_slot_make_one_job(app, tenant):
    def plan(slot):
        return int(
            start_scheduled("noop", tenant_id=tenant.id, schedule_key="test:noop", slot=slot)
        )

    schedule = Schedule("test:noop", timedelta(minutes=5), plan, timedelta(minutes=1))
    now = datetime.now(UTC)
    results = []
    clocks = [
        threading.Thread(target=lambda: results.append(fire(schedule, now=now))) for _ in range(4)
    ]
    with app.app_context():
        for clock in clocks:
            clock.start()
        for clock in clocks:
            clock.join()
    assert sorted(results) == [0, 0, 0, 1]
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.query(BackgroundJob).filter_by(schedule_key="test:noop").all()
    assert len(rows) == 1
    assert rows[0].scheduled_slot == slot_for(now, timedelta(minutes=5))
    assert rows[0].triggered_by == "schedule"


def test_slots_are_the_same_for_every_clock():
    every = timedelta(minutes=5)
    start = slot_for(datetime.now(UTC), every)
    moment = start + timedelta(minutes=3, seconds=12)
    assert slot_for(moment, every) == start
    assert slot_for(moment + timedelta(minutes=1), every) == slot_for(moment, every)
    assert slot_for(moment + every, every) == start + every
    assert (start - EPOCH) % every == timedelta(0)


def test_worker_runs_each_job_as_its_tenant(app, tenant, other_tenant, worker):
    jobs = {t.id: start_job(app, t.id, "healthcheck") for t in (tenant, other_tenant)}
    for tenant_id, job_id in jobs.items():
        job = wait_for(app, tenant_id, job_id)
        assert job.status == "completed", job.error_message
        assert job.result["database"] == "ok"  # saw exactly its own tenant
        assert job.result["broker"] == "ok"


def test_a_message_lost_after_sending_is_sent_again_later(app, tenant):
    job_id = start_job(app, tenant.id)
    first = read_job(app, tenant.id, job_id).message_id
    # Sent, but a consumer lost it: the job stayed pending long after its message went out.
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id == job_id)
            .values(enqueued_at=datetime.now(UTC) - timedelta(minutes=20))
        )
        db.commit()
    assert maintenance.relay(resend_after_s=600) >= 1
    again = read_job(app, tenant.id, job_id)
    assert again.message_id != first
    assert again.enqueued_at > datetime.now(UTC) - timedelta(minutes=1)
    # Once sent again, it is left alone until it is overdue again.
    maintenance.relay(resend_after_s=600)
    assert read_job(app, tenant.id, job_id).message_id == again.message_id


def test_the_worker_connection_recovers_from_a_dropped_connection(app, tenant, database):
    from sqlalchemy import create_engine, make_url, text

    from services.config import normalize_database_url

    job_id = start_job(app, tenant.id)
    claimed = attempts.claim(job_id, tenant.id, message_id="m1")
    backend = attempts._state.connection.info.backend_pid
    # The admin URL may name a socket in its query (an embedded or private server).
    admin_url = make_url(normalize_database_url(database["admin"]))
    admin = create_engine(admin_url.set(database=database["name"]))
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    admin.dispose()
    assert attempts.finish(claimed, "completed", result={"after": "reconnect"})
    assert read_job(app, tenant.id, job_id).result == {"after": "reconnect"}
    assert attempts._state.connection.info.backend_pid != backend
