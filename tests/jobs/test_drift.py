"""The drift jobs on the clock: each non-DEV environment is checked once per slot of its own
cadence (5 minutes by default, per-tenant policy), never two checks of one environment at
once, and an edit made in n8n is found by the next scheduled check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from jobs.drift import SCHEDULES
from jobs.schedule import fire
from models.db import db, tenant_scope
from models.drift import DriftIncident
from models.environments import Environment
from models.jobs import BackgroundJob
from services.drift import checks, policies
from tests.drift import approve_all, edit_in_n8n, on_plan, open_incident, set_incident
from tests.jobs.helpers import wait_for

CHECKS = next(s for s in SCHEDULES if s.key == "drift_check")
#: A moment on a 15-minute boundary (so on a 5-minute one too), a day after now: in the
#: future of any slot a real clock fired, whatever today is.
BOUNDARY = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


def _jobs(app, tenant) -> list[BackgroundJob]:
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.scalars(
            select(BackgroundJob).where(BackgroundJob.job_type == "drift_check")
        ).all()
        db.expunge_all()
    return list(rows)


def _finish_all(app, tenant) -> None:
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(
            update(BackgroundJob)
            .where(BackgroundJob.job_type == "drift_check")
            .values(status="completed", finished_at=func.now())
        )
        db.commit()


def test_non_dev_environments_are_checked_once_per_slot_of_their_cadence(
    app, factory, tenant, fake_n8n
):
    on_plan(factory, tenant, "enterprise")
    prod = factory.environment(tenant.id, fake_n8n, environment_class="production")
    staging = factory.environment(tenant.id, fake_n8n, environment_class="staging")
    factory.environment(tenant.id, fake_n8n, environment_class="dev")
    factory.run_as(tenant.id, policies.create, environment_id=staging.id, check_interval_minutes=15)

    fire(CHECKS, now=BOUNDARY)
    fire(CHECKS, now=BOUNDARY + timedelta(seconds=30))  # same slot: nothing new
    fire(CHECKS, now=BOUNDARY + timedelta(minutes=5))  # prod's first check is still queued
    assert len(_jobs(app, tenant)) == 2
    _finish_all(app, tenant)
    fire(CHECKS, now=BOUNDARY + timedelta(minutes=5, seconds=10))  # prod's, not staging's

    jobs = _jobs(app, tenant)
    assert sorted((j.resource_id == prod.id, j.scheduled_slot) for j in jobs) == [
        (False, BOUNDARY),
        (True, BOUNDARY),
        (True, BOUNDARY + timedelta(minutes=5)),
    ]
    assert {j.concurrency_key for j in jobs} == {
        checks.concurrency_key(prod.id),
        checks.concurrency_key(staging.id),
    }


def test_an_edit_in_n8n_is_found_by_the_next_scheduled_check(
    app, factory, tenant, fake_n8n, worker
):
    on_plan(factory, tenant, "enterprise")
    prod = factory.environment(tenant.id, fake_n8n, environment_class="production")
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 2))
    edit_in_n8n(fake_n8n, ids[1], lambda body: body.update(name="Renamed in production"))

    fire(CHECKS, now=BOUNDARY + timedelta(hours=1))
    [job] = _jobs(app, tenant)
    assert wait_for(app, tenant.id, job.id, timeout=60).status == "completed"

    with app.app_context(), tenant_scope(tenant.id):
        env = db.get(Environment, prod.id)
        assert env.drift_status == "DRIFT_DETECTED" and "1 modified" in env.drift_status_reason


def test_the_ttl_checker_runs_for_tenants_with_an_incident_due_and_marks_it_expired(
    app, factory, tenant, fake_n8n, worker
):
    on_plan(factory, tenant, "enterprise")
    prod = factory.environment(tenant.id, fake_n8n, environment_class="production")
    incident = open_incident(factory, tenant, prod)
    set_incident(app, tenant, incident.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))

    fire(next(s for s in SCHEDULES if s.key == "drift_ttl"))
    with app.app_context(), tenant_scope(tenant.id):
        job_id = db.scalar(select(BackgroundJob.id).where(BackgroundJob.job_type == "drift_ttl"))
    assert wait_for(app, tenant.id, job_id, timeout=60).status == "completed"

    with app.app_context(), tenant_scope(tenant.id):
        row = db.get(DriftIncident, incident.id)
        assert row.expired_at is not None and row.status == "detected"
