"""Infrastructure faults against the real processes: worker kills, a pause past the lease, a
kill between an effect's commit and the finish, Redis restarts with and without persistence,
a Redis blip during retry backoff, PostgreSQL down for 10 s, SIGTERM to the process group,
two clocks.

Every scenario runs noop jobs whose effect (one audit entry, JobContext.once) must happen
exactly once, and asserts: no job lost (all complete), no effect done twice, no job
completed twice, and nothing stuck: all done within RECOVERY_S after the fault ended.
"""

from __future__ import annotations

import itertools
import signal
import time
import uuid
from collections import Counter

import dramatiq
from sqlalchemy import func, select

from jobs import core
from jobs.broker import durability_problems
from models.audit import AuditLog
from models.db import db, reset_context, tenant_scope
from models.jobs import TERMINAL_STATUSES, BackgroundJob
from tests.chaos.clock import CHAOS_EVERY, SCHEDULE_KEY

#: Seconds within which every job must be done once a fault is over (issue 9: 2 minutes).
RECOVERY_S = 120.0
#: A job of about a second: four progress checkpoints, then its effect.
SHORT = {"steps": 4, "step_seconds": 0.25, "effect": True}


def start_noops(tenant_id: uuid.UUID, count: int, **params) -> list[uuid.UUID]:
    with tenant_scope(tenant_id):
        jobs = [core.start("noop", params=params, triggered_by="system") for _ in range(count)]
        ids = [job.id for job in jobs]
        db.commit()  # sent after the commit, one message each
    reset_context()
    return ids


def read(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, BackgroundJob]:
    """The jobs as they are now; {} while PostgreSQL is down."""
    try:
        with tenant_scope(tenant_id):
            rows = db.scalars(select(BackgroundJob).where(BackgroundJob.id.in_(ids))).all()
            db.expunge_all()
            return {row.id: row for row in rows}
    except Exception:  # noqa: BLE001 - the database may be the fault being injected
        return {}
    finally:
        reset_context()


def wait_for(tenant_id, ids, *, statuses=TERMINAL_STATUSES, count=None, within_s=RECOVERY_S):
    """Seconds until ``count`` (all by default) of the jobs are in ``statuses``."""
    wanted = len(ids) if count is None else count
    started = time.monotonic()
    while True:
        jobs = read(tenant_id, ids)
        if sum(job.status in statuses for job in jobs.values()) >= wanted:
            return time.monotonic() - started
        if time.monotonic() - started > within_s:
            seen = Counter(job.status for job in jobs.values())
            stuck = [job for job in jobs.values() if job.status not in statuses][:3]
            raise AssertionError(
                f"after {within_s:g} s: {dict(seen)}, wanted {wanted} {statuses}; for example "
                + "; ".join(
                    f"{job.status} attempt {job.attempt}, due {job.not_before:%H:%M:%S.%f}, "
                    f"sent {job.enqueued_at and f'{job.enqueued_at:%H:%M:%S.%f}'}, "
                    f"message {job.message_id}"
                    for job in stuck
                )
            )
        time.sleep(0.25)


def effects(tenant_id: uuid.UUID) -> Counter:
    """Effects done, per job id (as text)."""
    with tenant_scope(tenant_id):
        rows = db.execute(
            select(AuditLog.resource_id, func.count())
            .where(AuditLog.action == "diagnostics.effect")
            .group_by(AuditLog.resource_id)
        ).all()
    reset_context()
    return Counter(dict(rows))


def dead_letters() -> int:
    broker = dramatiq.get_broker()
    return sum(
        broker.client.zcard(f"{broker.namespace}:{q}.XQ") for q in broker.get_declared_queues()
    )


def assert_done_once(tenant_id, ids) -> dict[uuid.UUID, BackgroundJob]:
    """Every job completed, exactly once, with its effect done exactly once."""
    jobs = read(tenant_id, ids)
    assert Counter(job.status for job in jobs.values()) == {"completed": len(ids)}
    for job in jobs.values():
        outcomes = [entry["outcome"] for entry in job.attempts]
        assert outcomes.count("completed") == 1, (job.id, outcomes)
        assert job.error_class is None, (job.id, job.error_message)
    done = effects(tenant_id)
    assert {str(job_id): done[str(job_id)] for job_id in ids} == {str(i): 1 for i in ids}
    return jobs


def attempts_used(jobs) -> dict:
    return {
        "attempts_max": max(job.attempt for job in jobs.values()),
        "jobs_repeated": sum(job.attempt > 1 for job in jobs.values()),
    }


def test_200_jobs_through_5_worker_kills(chaos, tenant_id, record):
    chaos.clock()
    workers = [chaos.worker(), chaos.worker()]
    ids = start_noops(tenant_id, 200, **SHORT)
    wait_for(tenant_id, ids, statuses=("running", *TERMINAL_STATUSES), count=16, within_s=60)
    for _ in range(5):
        time.sleep(2)
        workers.pop(0).kill()  # SIGKILL to its process group
        workers.append(chaos.worker())
    took = wait_for(tenant_id, ids)
    jobs = assert_done_once(tenant_id, ids)
    record(jobs=200, kills=5, recovered_s=round(took, 1), **attempts_used(jobs))


def test_a_worker_paused_past_its_lease(chaos, tenant_id, record):
    chaos.clock()
    paused = chaos.worker()
    ids = start_noops(tenant_id, 8, steps=40, step_seconds=0.25, effect=True)
    wait_for(tenant_id, ids, statuses=("running",))
    paused.signal_group(signal.SIGSTOP)
    successor = chaos.worker()
    # The reaper takes the jobs from the silent worker; the successor runs them.
    took = wait_for(tenant_id, ids)
    paused.signal_group(signal.SIGCONT)
    time.sleep(5)  # the paused attempts wake up and reach their next lease check
    jobs = assert_done_once(tenant_id, ids)
    assert {job.attempt for job in jobs.values()} == {2}
    assert {job.result["effect_by_attempt"] for job in jobs.values()} == {2}
    assert paused.log.read_text().count("lease lost to another attempt") == len(ids)
    assert successor.alive()
    record(jobs=len(ids), recovered_s=round(took, 1), **attempts_used(jobs))


def test_a_kill_between_the_effect_and_the_finish(chaos, tenant_id, record):
    chaos.clock()
    killed = chaos.worker()
    ids = start_noops(tenant_id, 4, effect=True, hold_s=600)
    deadline = time.monotonic() + 60
    while sum(effects(tenant_id).values()) < len(ids):
        assert time.monotonic() < deadline, "the effects were not done"
        time.sleep(0.2)
    killed.kill()  # each effect committed, no finish recorded
    chaos.worker()
    took = wait_for(tenant_id, ids)
    jobs = assert_done_once(tenant_id, ids)
    assert {(job.attempt, job.result["effect_by_attempt"]) for job in jobs.values()} == {(2, 1)}
    record(jobs=len(ids), recovered_s=round(took, 1), **attempts_used(jobs))


def _redis_restart(chaos, tenant_id, record, *, persistent: bool) -> None:
    chaos.redis.restart(persistent=persistent, wipe=True)
    problems = durability_problems(dramatiq.get_broker().client)
    assert (problems == []) is persistent, problems
    chaos.clock()
    chaos.worker(threads=4)
    ids = start_noops(tenant_id, 200, steps=2, step_seconds=0.25, effect=True)
    wait_for(tenant_id, ids, count=40)
    chaos.redis.restart()  # SIGKILL, then start on the same files
    took = wait_for(tenant_id, ids)
    jobs = assert_done_once(tenant_id, ids)
    record(jobs=200, persistent=persistent, recovered_s=round(took, 1), **attempts_used(jobs))


def test_a_redis_restart_with_persistence(chaos, tenant_id, record):
    _redis_restart(chaos, tenant_id, record, persistent=True)


def test_a_redis_restart_without_persistence(chaos, tenant_id, record):
    _redis_restart(chaos, tenant_id, record, persistent=False)


def test_a_redis_blip_during_retry_backoff(chaos, tenant_id, record):
    chaos.clock()
    chaos.worker(threads=20)
    # Each first attempt fails after a second; its retry is due a second later (noop's backoff).
    ids = start_noops(tenant_id, 20, steps=2, step_seconds=0.5, succeed_on_attempt=2, effect=True)
    wait_for(tenant_id, ids, statuses=("running",))
    chaos.redis.kill()
    time.sleep(5)  # the retries come due while Redis is away
    chaos.redis.start()
    took = wait_for(tenant_id, ids)
    jobs = assert_done_once(tenant_id, ids)
    for job in jobs.values():
        assert [entry["outcome"] for entry in job.attempts][:1] == ["retry"]
    record(jobs=len(ids), blip_s=5, recovered_s=round(took, 1), **attempts_used(jobs))


def test_postgresql_down_for_10_seconds(chaos, tenant_id, record):
    chaos.clock()
    chaos.worker()
    chaos.worker()
    ids = start_noops(tenant_id, 200, steps=2, step_seconds=0.25, effect=True)
    wait_for(tenant_id, ids, count=30)
    chaos.postgres.stop(mode="immediate")
    time.sleep(10)
    chaos.postgres.start()
    took = wait_for(tenant_id, ids)
    jobs = assert_done_once(tenant_id, ids)
    assert dead_letters() == 0
    record(jobs=200, down_s=10, recovered_s=round(took, 1), **attempts_used(jobs))


def test_sigterm_to_the_process_group(chaos, tenant_id, record):
    chaos.clock()
    stopping = chaos.worker(threads=8, shutdown_ms=5_000)
    ids = start_noops(tenant_id, 8, steps=40, step_seconds=0.25, effect=True)
    wait_for(tenant_id, ids, statuses=("running",))
    signalled = time.monotonic()
    stopping.signal_group(signal.SIGTERM)
    assert stopping.wait(timeout=30) == 0
    handed_back = read(tenant_id, ids)
    assert {(job.status, job.attempt) for job in handed_back.values()} == {("pending", 0)}
    stopped_s = time.monotonic() - signalled
    chaos.worker()
    took = wait_for(tenant_id, ids)
    assert_done_once(tenant_id, ids)
    record(jobs=len(ids), handed_back_in_s=round(stopped_s, 1), recovered_s=round(took, 1))


def test_two_clocks(chaos, tenant_id, record):
    chaos.worker()
    first, second = chaos.clock(fast_schedule=True), chaos.clock(fast_schedule=True)
    time.sleep(15)
    assert first.alive() and second.alive()  # both run (the second once died on the metrics port)
    first.signal_group(signal.SIGTERM)  # a deploy: one clock restarts, the other goes on
    first.wait(timeout=30)
    time.sleep(3)
    first = chaos.clock(fast_schedule=True)
    time.sleep(15)
    for clock in (first, second):
        clock.signal_group(signal.SIGTERM)
        clock.wait(timeout=30)
    with tenant_scope(tenant_id):
        rows = db.execute(
            select(BackgroundJob.id, BackgroundJob.scheduled_slot).where(
                BackgroundJob.schedule_key == SCHEDULE_KEY
            )
        ).all()
    reset_context()
    slots = sorted(slot for _, slot in rows)
    assert len(slots) == len(set(slots)) >= 10  # one job per slot, however many clocks fired
    # The other clock went on while one restarted (a fire late past its 2 s slot, on a busy
    # machine, moves on to the next slot: a gap of a slot or two is load, not a clock down).
    assert max(later - earlier for earlier, later in itertools.pairwise(slots)) <= 3 * CHAOS_EVERY
    ids = [job_id for job_id, _ in rows]
    took = wait_for(tenant_id, ids)
    assert Counter(job.status for job in read(tenant_id, ids).values()) == {"completed": len(ids)}
    record(slots=len(slots), duplicate_slots=0, recovered_s=round(took, 1))
