"""A deployment that fails part-way rolls back what it applied from the pre-promotion
snapshot; a completed one can be rolled back by hand; a blocked one changes nothing."""

from __future__ import annotations

import copy
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models.db import db, tenant_scope
from models.support import NotificationEvent
from services.errors import Conflict
from services.promotions import deployments
from tests.canonical import run
from tests.drift import principal, set_environment
from tests.jobs.helpers import wait_for
from tests.promotions import (
    deploy_now,
    new_version_in_dev,
    pipeline,
    promote,
    seed,
    state,
    workflow,
)


def _events(app, tenant) -> list[str]:
    with app.app_context(), tenant_scope(tenant.id):
        return list(db.scalars(select(NotificationEvent.event_type)))


def test_a_failure_on_workflow_7_of_10_rolls_back_1_to_6(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, ten, worker
):
    before = {name: copy.deepcopy(second_n8n.workflow(s.staging_id)) for name, s in ten.items()}
    second_n8n.fail_path(rf"/workflows/{ten['Flow 07'].staging_id}$", 400, method="PUT")
    pipe = pipeline(factory, tenant, dev, staging)
    promotion = promote(factory, tenant, pipe, dev, staging, ten)

    job = deploy_now(app, factory, tenant, promotion)

    assert job.status == "failed" and "rolled back" in job.error_message
    for name, s in ten.items():
        assert second_n8n.workflow(s.staging_id)["nodes"] == before[name]["nodes"], name
    promotion, deployment, by_name = state(app, tenant, promotion.id)
    assert promotion.status == deployment.status == "failed"
    assert {n: r.status for n, r in by_name.items()} == {
        **{f"Flow {n:02d}": "success" for n in range(1, 7)},
        "Flow 07": "failed",
        **{f"Flow {n:02d}": "pending" for n in range(8, 11)},
    }
    assert {n: r.rollback_status for n, r in by_name.items() if r.rollback_status} == {
        f"Flow {n:02d}": "restored" for n in range(1, 7)
    }
    assert by_name["Flow 07"].error_message
    assert [r["rollback"] for r in promotion.execution_result["rollback"]] == ["restored"] * 6
    assert {"deployment.failed", "deployment.rolled_back"} <= set(_events(app, tenant))


def test_a_completed_promotion_can_be_rolled_back_by_hand(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, ten, worker
):
    before = {name: copy.deepcopy(second_n8n.workflow(s.staging_id)) for name, s in ten.items()}
    pipe = pipeline(factory, tenant, dev, staging)
    promotion = promote(factory, tenant, pipe, dev, staging, ten)
    assert deploy_now(app, factory, tenant, promotion).status == "completed"
    assert second_n8n.workflow(ten["Flow 01"].staging_id)["nodes"] != before["Flow 01"]["nodes"]

    deployment = run(
        factory, tenant, deployments.rollback, promotion.id, principal=principal(tenant)
    )
    job = wait_for(app, tenant.id, deployment.rollback_job_id, timeout=60)

    assert job.status == "completed", job.error_message
    for name, s in ten.items():
        assert second_n8n.workflow(s.staging_id)["nodes"] == before[name]["nodes"], name
    _, _, by_name = state(app, tenant, promotion.id)
    assert {r.rollback_status for r in by_name.values()} == {"restored"}


def test_a_blocked_promotion_changes_nothing(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, ten, worker
):
    pipe = pipeline(factory, tenant, dev, staging)
    promotion = promote(factory, tenant, pipe, dev, staging, ten)
    set_environment(app, tenant, staging.id, connection_status="unreachable")
    second_n8n.clear_requests()

    with pytest.raises(Conflict) as blocked:
        run(factory, tenant, deployments.execute, promotion.id, principal=principal(tenant))

    assert blocked.value.code == "gates_blocked"
    assert [e["code"] for e in blocked.value.details["errors"]] == ["target_unhealthy"]
    assert second_n8n.writes() == []

    # Scheduled, it is blocked when it starts: the job fails and nothing is written.
    soon = datetime.now(UTC) - timedelta(seconds=1)
    deployment = run(
        factory,
        tenant,
        deployments.execute,
        promotion.id,
        principal=principal(tenant),
        scheduled_for=soon,
    )
    with app.app_context():
        assert deployments.start_due() >= 1
    job_id = state(app, tenant, promotion.id)[1].job_id
    job = wait_for(app, tenant.id, job_id, timeout=60)

    assert job.status == "failed"
    promotion, deployment, by_name = state(app, tenant, promotion.id)
    assert deployment.status == "failed" and promotion.execution_result["blocked"]
    assert by_name == {} and second_n8n.writes() == []
    assert promotion.target_pre_snapshot_id is None


def test_a_failed_first_execution_after_the_deploy_rolls_it_back(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    seeds = seed(
        factory,
        tenant,
        dev,
        fake_n8n,
        {"Hook": workflow("Hook")},
        staging=staging,
        fake_staging=second_n8n,
    )
    target_id = seeds["Hook"].staging_id
    with fake_n8n._lock:
        fake_n8n.store.set_active(seeds["Hook"].dev_id, True, check=False)
    new_version_in_dev(factory, tenant, dev, fake_n8n, seeds)
    pipe = pipeline(factory, tenant, dev, staging, gates={"verify_executions_within_s": 20})
    promotion = promote(factory, tenant, pipe, dev, staging, seeds)

    def first_run_fails():
        # The new version goes live and its first run fails.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if second_n8n.workflow(target_id)["active"]:
                second_n8n.add_execution(target_id, status="error", error_message="boom")
                return
            time.sleep(0.05)

    runner = threading.Thread(target=first_run_fails)
    runner.start()
    job = deploy_now(app, factory, tenant, promotion)
    runner.join()

    assert job.status == "failed" and "boom" in job.error_message
    after = second_n8n.workflow(target_id)
    call = next(n for n in after["nodes"] if n["name"] == "Call")
    assert call["parameters"]["url"] == "https://api.example/v1"
    assert after["active"] is False
    _, deployment, by_name = state(app, tenant, promotion.id)
    assert deployment.status == "failed" and by_name["Hook"].rollback_status == "restored"


def test_a_deployment_that_cannot_snapshot_the_target_fails_having_changed_nothing(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, ten, worker
):
    pipe = pipeline(factory, tenant, dev, staging)
    promotion = promote(factory, tenant, pipe, dev, staging, ten)
    second_n8n.fail_path(rf"/workflows/{ten['Flow 03'].staging_id}$", 404, method="GET")
    second_n8n.clear_requests()

    job = deploy_now(app, factory, tenant, promotion)

    assert job.status == "failed" and "nothing was changed" in job.error_message
    assert second_n8n.writes() == []
    promotion, deployment, _ = state(app, tenant, promotion.id)
    assert promotion.status == deployment.status == "failed"
    assert promotion.target_pre_snapshot_id is None
