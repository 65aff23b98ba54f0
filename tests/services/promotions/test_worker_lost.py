"""A worker killed (SIGKILL) mid-deployment never leaves it running: the reaper fails the job
and the deployment, whose rows say what was applied or may have been; it is not retried
automatically."""

from __future__ import annotations

import os
import signal
import time

from jobs import maintenance
from models.db import db, tenant_scope
from models.promotions import DeploymentWorkflow
from services.promotions import deployments
from tests.canonical import run
from tests.drift import principal
from tests.jobs.helpers import read_job, wait_for
from tests.jobs.test_lifecycle import _backdate_heartbeat
from tests.promotions import pipeline, promote, state


def _promoted(app, tenant, deployment_id) -> int:
    with app.app_context(), tenant_scope(tenant.id):
        return (
            db.query(DeploymentWorkflow)
            .filter_by(deployment_id=deployment_id, status="success")
            .count()
        )


def test_a_worker_killed_mid_deployment_leaves_it_failed_with_its_partial_results(
    app, factory, tenant, dev, staging, second_n8n, ten, start_worker, settings
):
    # Each write to staging takes a while, so the kill lands mid-way.
    second_n8n.slow(0.3, path=r"/workflows/")
    pipe = pipeline(factory, tenant, dev, staging)
    promotion = promote(factory, tenant, pipe, dev, staging, ten)
    process = start_worker(threads=1)
    deployment = run(
        factory, tenant, deployments.execute, promotion.id, principal=principal(tenant)
    )
    deadline = time.monotonic() + 60
    while _promoted(app, tenant, deployment.id) < 2:
        assert time.monotonic() < deadline, "the deployment never got going"
        time.sleep(0.05)

    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert read_job(app, tenant.id, deployment.job_id).status == "running"
    _backdate_heartbeat(app, tenant.id, deployment.job_id, 3600)
    assert deployment.job_id in maintenance.reap().failed

    job = wait_for(app, tenant.id, deployment.job_id)
    assert job.status == "failed" and job.attempt == 1
    promotion, found, by_name = state(app, tenant, promotion.id)
    assert found.status == promotion.status == "failed"
    assert found.summary_json["worker_lost"] is True
    applied = {n for n, r in by_name.items() if r.status == "success"}
    assert 2 <= len(applied) < 10
    assert all(by_name[n].target_n8n_id and by_name[n].action == "updated" for n in applied)
    # The rest were marked before their writes (they may have landed: a manual rollback
    # restores them too) or never attempted.
    rest = {n: r for n, r in by_name.items() if n not in applied}
    assert rest and {r.status for r in rest.values()} <= {"applying", "pending"}
    assert all(r.action == "updated" for r in rest.values() if r.status == "applying")
    assert all(r.action is None for r in rest.values() if r.status == "pending")
    assert promotion.target_pre_snapshot_id is not None  # a manual rollback can use it
