"""The environment heartbeat against real PostgreSQL and fake n8n instances going down and up."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.schedule import EPOCH
from models.audit import AuditLog
from models.db import db
from models.environments import Environment
from services import environments, heartbeat
from services.n8n import N8nUnauthorized
from tests.fake_n8n import FakeN8n
from tests.jobs.helpers import start_job, wait_for
from tests.services.test_credentials import cancel_scheduled, scheduled_jobs

HEARTBEAT_AUDITS = ("environment.unhealthy", "environment.recovered")


def beat(factory, tenant_id) -> dict:
    return factory.run_as(tenant_id, heartbeat.beat)


def state(factory, tenant_id, env_id) -> Environment:
    return factory.run_as(tenant_id, lambda: db.get(Environment, env_id))


def audits(factory, tenant_id) -> list[tuple[str, str]]:
    query = (
        select(AuditLog.action, AuditLog.resource_id)
        .where(AuditLog.action.in_(HEARTBEAT_AUDITS))
        .order_by(AuditLog.created_at)
    )
    return factory.run_as(tenant_id, lambda: [tuple(row) for row in db.execute(query)])


def test_an_environment_that_stops_answering_is_flagged_once_and_recovers(
    factory, tenant, environment, fake_n8n
):
    env = str(environment.id)
    assert beat(factory, tenant.id) == {
        "checked": 1,
        "healthy": 1,
        "failing": 0,
        "flagged": [],
        "recovered": [],
    }
    first = state(factory, tenant.id, environment.id)
    assert (first.connection_status, first.consecutive_failures) == ("healthy", 0)
    assert first.last_heartbeat_at is not None
    assert first.n8n_version_family == "1.x"

    fake_n8n.go_down()
    for failures in range(1, environments.FAILURES_BEFORE_FLAGGED):
        assert beat(factory, tenant.id)["flagged"] == []
        assert state(factory, tenant.id, environment.id).consecutive_failures == failures
    assert audits(factory, tenant.id) == []

    assert beat(factory, tenant.id)["flagged"] == [env]
    assert beat(factory, tenant.id)["flagged"] == []  # still down: no second entry
    down = state(factory, tenant.id, environment.id)
    assert down.connection_status == "unreachable"
    assert down.consecutive_failures == environments.FAILURES_BEFORE_FLAGGED + 1
    assert down.last_heartbeat_at == first.last_heartbeat_at
    assert audits(factory, tenant.id) == [("environment.unhealthy", env)]

    fake_n8n.come_back()
    assert beat(factory, tenant.id)["recovered"] == [env]
    assert beat(factory, tenant.id)["recovered"] == []
    up = state(factory, tenant.id, environment.id)
    assert (up.connection_status, up.consecutive_failures) == ("healthy", 0)
    assert up.last_heartbeat_at > first.last_heartbeat_at
    assert audits(factory, tenant.id) == [
        ("environment.unhealthy", env),
        ("environment.recovered", env),
    ]
    assert fake_n8n.writes() == []  # the heartbeat only ever reads


def test_one_beat_checks_every_environment_of_its_tenant_only(
    factory, tenant, other_tenant, fake_n8n
):
    with FakeN8n() as down:
        mine = [factory.environment(tenant.id, fake).id for fake in (fake_n8n, down)]
        down.go_down()
        theirs = factory.environment(other_tenant.id, fake_n8n).id

        summary = beat(factory, tenant.id)

    assert (summary["checked"], summary["healthy"], summary["failing"]) == (2, 1, 1)
    statuses = [state(factory, tenant.id, env).connection_status for env in mine]
    assert statuses == ["healthy", "unreachable"]
    assert state(factory, other_tenant.id, theirs).connection_checked_at is None


@pytest.mark.usefixtures("worker")
def test_heartbeat_job_runs_on_the_worker(app, factory, tenant, environment):
    job_id = start_job(
        app,
        tenant.id,
        "environment_heartbeat",
        resource_type="tenant",
        resource_id=tenant.id,
        concurrency_key=f"environment_heartbeat:{tenant.id}",
    )
    done = wait_for(app, tenant.id, job_id)
    assert done.status == "completed", done.error_message
    assert done.result["checked"] == 1
    assert state(factory, tenant.id, environment.id).last_heartbeat_at is not None


def test_schedule_starts_one_heartbeat_per_tenant_and_slot(
    app, factory, tenant, other_tenant, fake_n8n
):
    from jobs.heartbeat import SCHEDULE  # after the app loaded the actors on its broker

    for owner in (tenant.id, tenant.id, other_tenant.id):
        factory.environment(owner, fake_n8n)
    slot = EPOCH + timedelta(minutes=5 * (uuid.uuid4().int % 10_000))
    try:
        assert SCHEDULE.plan(slot) >= 2
        assert SCHEDULE.plan(slot) == 0
        for owner in (tenant.id, other_tenant.id):
            [job] = scheduled_jobs(factory, owner, slot)
            assert (job.job_type, job.resource_type, job.resource_id, job.schedule_key) == (
                "environment_heartbeat",
                "tenant",
                owner,
                f"environment_heartbeat:{owner}",
            )
    finally:
        cancel_scheduled(app, slot)


def _job_call(env_id) -> None:
    """A job's call to the instance, recorded on the environment's health."""
    with environments.n8n_session(environments.get(env_id)) as client:
        client.list_tags()


def _failing_job_call(env_id) -> None:
    with pytest.raises(N8nUnauthorized):
        _job_call(env_id)


def test_jobs_and_heartbeats_count_one_failure_streak(factory, tenant, environment, fake_n8n):
    env = str(environment.id)
    fake_n8n.fail_path("/api/v1/", 401, times=None)  # the key was revoked
    # Jobs fail first; the beat that makes the streak reach the threshold flags it.
    for _ in range(environments.FAILURES_BEFORE_FLAGGED - 1):
        factory.run_as(tenant.id, _failing_job_call, environment.id)
    assert audits(factory, tenant.id) == []
    assert beat(factory, tenant.id)["flagged"] == [env]
    # Later failures, from jobs or beats, flag nothing again.
    factory.run_as(tenant.id, _failing_job_call, environment.id)
    assert beat(factory, tenant.id)["flagged"] == []
    fake_n8n.clear_faults()
    # A job that reaches the instance again records the recovery, once.
    factory.run_as(tenant.id, _job_call, environment.id)
    assert beat(factory, tenant.id)["recovered"] == []
    assert audits(factory, tenant.id) == [
        ("environment.unhealthy", env),
        ("environment.recovered", env),
    ]
