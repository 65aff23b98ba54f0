"""Environments: a new URL or API key makes the connection unknown and queues a check."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.db import db
from models.environments import Environment
from models.jobs import BackgroundJob
from services import environments
from tests.fake_n8n import FakeN8n
from tests.jobs.helpers import wait_for


def _checks(factory, tenant_id, env_id) -> list[BackgroundJob]:
    query = select(BackgroundJob).where(
        BackgroundJob.job_type == "connection_check", BackgroundJob.resource_id == env_id
    )
    return factory.run_as(tenant_id, lambda: list(db.scalars(query)))


def _state(factory, tenant_id, env_id) -> Environment:
    return factory.run_as(tenant_id, lambda: db.get(Environment, env_id))


@pytest.mark.parametrize("change", ["url", "api_key"])
def test_a_new_target_resets_the_connection_and_queues_a_check(
    app, factory, tenant, environment, worker, change
):
    factory.run_as(tenant.id, environments.test_connection, environment.id)
    assert _state(factory, tenant.id, environment.id).connection_status == "healthy"
    with FakeN8n(api_key="another-key") as other:
        worker.pause()
        new = {"url": other.url} if change == "url" else {"api_key": "wrong-key"}
        factory.run_as(tenant.id, environments.update_environment, environment.id, **new)
        env = _state(factory, tenant.id, environment.id)
        assert (env.connection_status, env.connection_error, env.n8n_version_family) == (
            "unknown",
            None,
            None,
        )
        [check] = _checks(factory, tenant.id, environment.id)
        assert (check.status, check.triggered_by) == ("pending", "system")
        worker.resume()
        done = wait_for(app, tenant.id, check.id)
        assert done.status == "completed", done.error_message
    # Either way the key no longer fits what the URL points at.
    assert done.result["status"] == "unauthorized"
    assert _state(factory, tenant.id, environment.id).connection_status == "unauthorized"


def test_other_changes_keep_the_connection_state(factory, tenant, environment):
    factory.run_as(tenant.id, environments.test_connection, environment.id)
    factory.run_as(tenant.id, environments.update_environment, environment.id, name="renamed")
    assert _state(factory, tenant.id, environment.id).connection_status == "healthy"
    assert _checks(factory, tenant.id, environment.id) == []
