"""The clock: what it schedules, with which grace, and that a slot runs once per resource."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import select

import scheduler
from jobs.schedule import EPOCH, fire
from jobs.sync import SCHEDULE as SYNC_SCHEDULE
from models.db import db, tenant_scope
from models.jobs import BackgroundJob


def test_the_clock_schedules_relay_reaper_and_every_tenant_schedule():
    clock = scheduler.build_scheduler()
    jobs = {job.id: job for job in clock.get_jobs()}
    assert {"outbox-relay", "stale-job-reaper", *(s.key for s in scheduler.SCHEDULES)} <= set(jobs)
    for job in jobs.values():
        # APScheduler's default of 1 s would drop fires after any pause of the clock.
        assert job.misfire_grace_time > 1, job.id
        # Slots start at the shared epoch, so every clock fires at the same moments.
        assert job.trigger.start_date == EPOCH


def test_two_clocks_start_one_sync_per_environment_and_slot(app, factory, tenant, fake_n8n):
    envs = [factory.environment(tenant.id, fake_n8n) for _ in range(2)]
    now = datetime.now(UTC)
    clocks = [
        threading.Thread(target=fire, args=(SYNC_SCHEDULE,), kwargs={"now": now}) for _ in range(3)
    ]
    for clock in clocks:
        clock.start()
    for clock in clocks:
        clock.join()
    with app.app_context(), tenant_scope(tenant.id):
        jobs = db.scalars(select(BackgroundJob).where(BackgroundJob.job_type == "sync")).all()
    assert sorted(j.resource_id for j in jobs) == sorted(e.id for e in envs)
    assert {j.triggered_by for j in jobs} == {"schedule"}
    # The next fire in the same slot starts nothing new.
    assert fire(SYNC_SCHEDULE, now=now) == 0
