"""/jobs/stats reads job_counts, kept by a trigger on background_jobs: after any mix of
transitions (retries, the reaper, cancels, deletions), sequential or concurrent, it equals a
count of the jobs themselves."""

from __future__ import annotations

import contextlib
import random
import threading
from datetime import timedelta

from sqlalchemy import delete, func, select, update

from jobs import attempts, core, maintenance
from models.db import db, reset_context, tenant_scope
from models.jobs import BackgroundJob, JobCount
from services import jobs as job_service
from services.errors import Conflict, NotFound
from tests.jobs.helpers import start_job
from tests.jobs.test_lifecycle import _backdate_heartbeat


def _as(app, tenant_id, work):
    with app.app_context(), tenant_scope(tenant_id):
        try:
            return work()
        finally:
            db.rollback()
            reset_context()


def _counted(app, tenant_id) -> dict[str, dict[str, int]]:
    """The jobs themselves, counted: {kind: {status: n}}."""

    def count():
        rows = db.execute(
            select(BackgroundJob.job_type, BackgroundJob.status, func.count()).group_by(
                BackgroundJob.job_type, BackgroundJob.status
            )
        )
        counted: dict[str, dict[str, int]] = {}
        for job_type, status, n in rows:
            counted.setdefault(job_type, {})[status] = n
        return counted

    return _as(app, tenant_id, count)


def _stats(app, tenant_id) -> dict:
    return _as(app, tenant_id, job_service.stats)


def _claim(tenant_id, job_id):
    return attempts.claim(job_id, tenant_id, message_id=f"m-{job_id}")


def _cancel(app, tenant_id, job_id):
    def cancel():
        with contextlib.suppress(Conflict, NotFound):  # finished or deleted: no change
            core.cancel(job_id)

    _as(app, tenant_id, cancel)


def _reaped(app, tenant_id, job_id):
    """Claimed, then its worker vanished: the reaper re-queues it or fails it."""
    if _claim(tenant_id, job_id):
        _backdate_heartbeat(app, tenant_id, job_id, 3600)
        maintenance.reap()


def _retried(app, tenant_id, job_id):
    """A failed attempt handed back for a retry, then the retry completes."""
    if claim := _claim(tenant_id, job_id):
        attempts.release(claim, error=RuntimeError("flaky"), delay=timedelta(0))
    if claim := _claim(tenant_id, job_id):
        attempts.finish(claim, "completed", result={})


def _deleted(app, tenant_id, job_id):
    def remove():
        db.execute(delete(BackgroundJob).where(BackgroundJob.id == job_id))
        db.commit()

    _as(app, tenant_id, remove)


def _finished(status):
    def finish(app, tenant_id, job_id):
        if claim := _claim(tenant_id, job_id):
            attempts.finish(claim, status, error=RuntimeError("no") if status == "failed" else None)

    return finish


_STEPS = (
    lambda app, tenant_id, job_id: None,  # stays pending
    lambda app, tenant_id, job_id: _claim(tenant_id, job_id),  # stays running
    _cancel,
    _reaped,
    _retried,
    _deleted,
    _finished("completed"),
    _finished("failed"),
    _finished("cancelled"),
)


def test_stats_equal_a_count_of_the_jobs_after_any_mix_of_transitions(app, tenant, other_tenant):
    rng = random.Random(13)
    jobs = [start_job(app, tenant.id, rng.choice(["noop", "healthcheck"])) for _ in range(40)]
    start_job(app, other_tenant.id)  # counted for its own tenant only
    for _round in range(3):  # later rounds find jobs already moved on: guarded, no count
        for job_id in jobs:
            rng.choice(_STEPS)(app, tenant.id, job_id)
        counted = _counted(app, tenant.id)
        stats = _stats(app, tenant.id)
        assert stats["by_job_type"] == counted
        by_status: dict[str, int] = {}
        for statuses in counted.values():
            for status, n in statuses.items():
                by_status[status] = by_status.get(status, 0) + n
        assert stats["by_status"] == by_status
    assert _stats(app, other_tenant.id)["by_status"] == {"pending": 1}


def test_stats_stay_exact_when_two_connections_race_for_the_same_jobs(app, tenant):
    jobs = [start_job(app, tenant.id) for _ in range(60)]
    barrier = threading.Barrier(2)
    errors = []

    def race(seed: int) -> None:
        # Each thread has its own connection (attempts keeps one per thread); both try every
        # job, in different orders: the status guard lets one transition through.
        rng = random.Random(seed)
        order = jobs[:]
        rng.shuffle(order)
        try:
            barrier.wait()
            for job_id in order:
                if claim := _claim(tenant.id, job_id):
                    if rng.random() < 0.3:
                        attempts.release(claim, error=RuntimeError("again"), delay=timedelta(0))
                    else:
                        attempts.finish(claim, rng.choice(["completed", "failed"]), result={})
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            attempts._drop_connection()

    threads = [threading.Thread(target=race, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    counted = _counted(app, tenant.id)
    assert sum(counted["noop"].values()) == len(jobs)
    assert _stats(app, tenant.id)["by_job_type"] == counted


def test_a_claim_and_a_retry_change_no_counter(app, tenant):
    """Only a move into or out of a finished status writes job_counts: the worker's claim and
    a hand-back for a retry (the hot path) leave it alone, and the stats still count them."""
    job_id = start_job(app, tenant.id)

    def counters():
        return _as(
            app, tenant.id, lambda: db.execute(select(JobCount.status, JobCount.count)).all()
        )

    claim = _claim(tenant.id, job_id)
    attempts.release(claim, error=RuntimeError("again"), delay=timedelta(0))
    claim = _claim(tenant.id, job_id)
    assert counters() == []
    assert _stats(app, tenant.id)["by_status"] == {"running": 1}
    attempts.finish(claim, "completed", result={})
    assert counters() == [("completed", 1)]
    assert _stats(app, tenant.id)["by_status"] == {"completed": 1}


def test_a_job_moved_out_of_a_finished_status_is_counted_where_it_went(app, tenant):
    """No transition of the job core leaves a finished status, but a repair by hand may: the
    general trigger takes it off its finished counter (finishing has a trigger of its own)."""
    job_id = start_job(app, tenant.id)
    attempts.finish(_claim(tenant.id, job_id), "failed", error=RuntimeError("no"))

    def repair(status):
        def move():
            db.execute(
                update(BackgroundJob).where(BackgroundJob.id == job_id).values(status=status)
            )
            db.commit()

        _as(app, tenant.id, move)
        return _stats(app, tenant.id)["by_status"]

    assert repair("completed") == {"completed": 1}
    assert repair("pending") == {"pending": 1}
