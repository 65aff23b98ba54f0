"""An attempt's lease checks: ensure_lease before external effects, database effects in a
fenced transaction, exactly once across attempts; and each attempt's own history."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from jobs import actor, attempts, core, maintenance, shutdown
from jobs.actor import JobContext
from models.audit import AuditLog
from models.db import db, reset_context, tenant_scope
from services import audit
from tests.jobs.helpers import read_job, start_job, wait_for
from tests.jobs.test_lifecycle import _backdate_heartbeat


def _context(tenant_id, job_id) -> JobContext:
    claim = attempts.claim(job_id, tenant_id, message_id=None)
    assert claim is not None
    return JobContext(claim, core.policy_for("noop"))


def _take_over(app, tenant_id, job_id) -> JobContext:
    """The reaper presumes the running attempt dead and another attempt claims the job."""
    _backdate_heartbeat(app, tenant_id, job_id, 3600)
    assert job_id in maintenance.reap().requeued
    return _context(tenant_id, job_id)


def _effects(app, tenant_id, job_id) -> int:
    with app.app_context(), tenant_scope(tenant_id):
        count = db.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "diagnostics.effect", AuditLog.resource_id == str(job_id))
        )
        reset_context()
    return count


def _record_effect(ctx: JobContext) -> int:
    audit.record("diagnostics.effect", resource_type="job", resource_id=ctx.job_id)
    return ctx.attempt


def test_an_effect_committed_before_a_crash_is_not_done_again(app, tenant, worker):
    worker.pause()
    job_id = start_job(app, tenant.id, params={"effect": True})
    first = _context(tenant.id, job_id)
    with app.app_context(), tenant_scope(tenant.id):
        assert first.once("effect", lambda: _record_effect(first)) == 1
        reset_context()
    # The worker dies between the effect's commit and the finish; the job is re-queued.
    _backdate_heartbeat(app, tenant.id, job_id, 3600)
    assert job_id in maintenance.reap().requeued
    worker.resume()
    job = wait_for(app, tenant.id, job_id)
    assert job.status == "completed"
    assert (job.attempt, job.result["effect_by_attempt"]) == (2, 1)
    assert job.effects == {"effect": 1}
    assert _effects(app, tenant.id, job_id) == 1


def test_an_attempt_that_lost_its_lease_does_no_effect(app, tenant):
    job_id = start_job(app, tenant.id)
    paused = _context(tenant.id, job_id)
    successor = _take_over(app, tenant.id, job_id)
    with pytest.raises(attempts.LeaseLost):
        paused.ensure_lease()
    with app.app_context(), tenant_scope(tenant.id):
        with pytest.raises(attempts.LeaseLost):
            paused.once("effect", lambda: _record_effect(paused))
        successor.ensure_lease()
        assert successor.once("effect", lambda: _record_effect(successor)) == 2
        # Asked again (a later step, a later attempt), the recorded result comes back.
        assert successor.once("effect", lambda: _record_effect(successor)) == 2
        reset_context()
    assert _effects(app, tenant.id, job_id) == 1


def test_a_fenced_transaction_commits_nothing_when_its_block_fails(app, tenant):
    job_id = start_job(app, tenant.id)
    ctx = _context(tenant.id, job_id)
    with app.app_context(), tenant_scope(tenant.id):
        with pytest.raises(RuntimeError), ctx.fenced_transaction():
            _record_effect(ctx)
            raise RuntimeError("the block fails after its write")
        reset_context()
    assert _effects(app, tenant.id, job_id) == 0


def test_the_reaper_cannot_take_a_job_over_during_its_fenced_transaction(app, tenant):
    job_id = start_job(app, tenant.id)
    ctx = _context(tenant.id, job_id)
    _backdate_heartbeat(app, tenant.id, job_id, 3600)
    reaped = []
    with app.app_context(), tenant_scope(tenant.id), ctx.fenced_transaction():
        _record_effect(ctx)
        # The reaper scans the stale row, then waits on the row lock until the commit,
        # after which the row is no longer the one it scanned.
        reaper = threading.Thread(target=lambda: reaped.append(maintenance.reap()))
        reaper.start()
        reaper.join(timeout=1)
        assert reaper.is_alive()
    reaper.join(timeout=10)
    assert job_id not in reaped[0].requeued + reaped[0].failed
    assert read_job(app, tenant.id, job_id).status == "running"
    ctx.ensure_lease()
    assert _effects(app, tenant.id, job_id) == 1


def test_ensure_lease_is_a_cancellation_and_shutdown_checkpoint(app, tenant):
    job_id = start_job(app, tenant.id)
    ctx = _context(tenant.id, job_id)
    shutdown.shutting_down.set()
    try:
        with pytest.raises(attempts.HandBack):
            ctx.ensure_lease()
    finally:
        shutdown.shutting_down.clear()
    with app.app_context(), tenant_scope(tenant.id):
        core.cancel(job_id)
        reset_context()
    with pytest.raises(attempts.JobCancelled):
        ctx.ensure_lease()


def test_ensure_lease_reads_without_writing_the_row(app, tenant):
    """A deployment checks the lease before each of its writes to n8n: a read, not an update
    (and a commit to flush) per write."""
    job_id = start_job(app, tenant.id)
    ctx = _context(tenant.id, job_id)

    def version():
        with app.app_context(), tenant_scope(tenant.id):
            found = db.scalar(
                text("SELECT xmin::text FROM background_jobs WHERE id = :id"), {"id": job_id}
            )
            reset_context()
        return found

    before = version()
    ctx.ensure_lease()
    assert version() == before


def test_a_fenced_out_outcome_is_logged(app, tenant, caplog):
    job_id = start_job(app, tenant.id)

    def body(ctx: JobContext) -> dict:
        # While this attempt runs, it is presumed dead and another attempt takes over.
        _take_over(app, tenant.id, job_id)
        return {"late": True}

    with caplog.at_level(logging.WARNING, logger="jobs.actor"):
        actor.execute(core.policy_for("noop"), body, job_id, tenant.id)
    assert "fenced out, its outcome (completed) was not recorded" in caplog.text
    job = read_job(app, tenant.id, job_id)
    assert (job.status, job.attempt, job.result) == ("running", 2, None)


def test_the_history_keeps_the_newest_attempts_only(app, tenant):
    job_id = start_job(app, tenant.id)
    for _ in range(attempts.MAX_HISTORY + 5):
        claim = attempts.claim(job_id, tenant.id, message_id=None)
        assert attempts.release(claim, error=None, delay=timedelta(0))
    job = read_job(app, tenant.id, job_id)
    assert len(job.attempts) == attempts.MAX_HISTORY
    assert {entry["outcome"] for entry in job.attempts} == {"handed_back"}
    # Hand-backs do not use attempts up.
    assert job.attempt == 0
