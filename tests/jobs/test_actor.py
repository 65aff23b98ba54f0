"""The tracked actor while PostgreSQL is out of reach: a claim or an outcome is tried again,
and a message is never dead-lettered for it."""

from __future__ import annotations

import time
from datetime import timedelta

import dramatiq
import psycopg

from jobs import actor, attempts
from jobs.core import JobPolicy
from services import sync
from tests.jobs.helpers import read_job, start_job, wait_for


def _unreachable_for(monkeypatch, name: str, failures: int) -> list[int]:
    """Make ``attempts.<name>`` fail like a database that is down, ``failures`` times."""
    real = getattr(attempts, name)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= failures:
            raise psycopg.OperationalError("connection refused")
        return real(*args, **kwargs)

    monkeypatch.setattr(attempts, name, flaky)
    return calls


def _dead_letters(queue: str = "default") -> int:
    broker = dramatiq.get_broker()
    return broker.client.zcard(f"{broker.namespace}:{queue}.XQ")


def test_a_claim_that_cannot_reach_the_database_is_tried_again(app, tenant, worker, monkeypatch):
    calls = _unreachable_for(monkeypatch, "claim", failures=3)
    job_id = start_job(app, tenant.id)
    assert wait_for(app, tenant.id, job_id).status == "completed"
    assert len(calls) == 4
    assert _dead_letters() == 0


def test_a_claim_out_of_patience_hands_its_message_back(app, tenant, worker, monkeypatch):
    monkeypatch.setattr(actor, "CLAIM_PATIENCE_S", 0.3)
    calls = _unreachable_for(monkeypatch, "claim", failures=5)
    job_id = start_job(app, tenant.id)
    # Given up after the patience: a new message goes back to the queue, the next try claims.
    job = wait_for(app, tenant.id, job_id)
    assert (job.status, job.attempt) == ("completed", 1)
    assert len(calls) == 6
    assert _dead_letters() == 0


def test_an_outcome_that_cannot_reach_the_database_is_recorded_later(
    app, tenant, worker, monkeypatch
):
    _unreachable_for(monkeypatch, "finish", failures=3)
    job_id = start_job(app, tenant.id, params={"steps": 1})
    job = wait_for(app, tenant.id, job_id)
    assert (job.status, job.attempt, job.result["steps"]) == ("completed", 1, 1)
    assert read_job(app, tenant.id, job_id).lease_token is None
    assert _dead_letters() == 0


def test_a_hung_instance_fails_the_job_with_a_timeout_naming_it(app, tenant, environment, fake_n8n):
    fake_n8n.slow(60.0)  # accepts, never answers in time
    job_id = start_job(
        app, tenant.id, "sync", resource_type="environment", resource_id=environment.id
    )
    # The kind's time limit, shortened: calls must end before it, with a timeout of their own.
    policy = JobPolicy("sync", "sync_environment", time_limit=timedelta(seconds=3))
    started = time.monotonic()
    actor.execute(policy, lambda ctx: sync.sync_workflows(ctx.resource_id), job_id, tenant.id)
    assert time.monotonic() - started < 3
    job = read_job(app, tenant.id, job_id)
    # The attempt failed with the timeout (and waits to be retried, as sync allows).
    assert (job.status, job.error_class) == ("pending", "services.n8n.errors.N8nTimeout")
    assert job.error_message.startswith(f"environment {environment.name!r}: GET /workflows")
    assert job.attempts[-1]["outcome"] == "retry"
