"""Multi-stage pipelines advance: a verified completion of dev -> staging opens the staging ->
production promotion of the same workflows (awaiting approval, asked by the same requester,
content from staging's copy in Git), once however often the completion is delivered; not
after a failure, not without the stage's flag, and a manual rollback withdraws it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from models.db import db, tenant_scope
from models.promotions import Promotion
from models.support import NotificationEvent
from services.errors import Forbidden, InvalidInput
from services.promotions import advance, deployments, lifecycle, pipelines
from tests.canonical import run
from tests.drift import principal
from tests.fake_n8n import FakeN8n
from tests.jobs.helpers import wait_for
from tests.promotions import deploy_now, edit, promote, seed, state, workflow


@pytest.fixture
def prod(factory, tenant):
    with FakeN8n() as fake:
        yield factory.environment(tenant.id, fake, environment_class="production"), fake


def _pipeline(factory, tenant, dev, staging, prod_env, *, auto: bool = True):
    approver = str(tenant.user_ids["developer"])
    stages = [
        {
            "source_environment_id": str(dev.id),
            "target_environment_id": str(staging.id),
            "auto_advance": auto,
        },
        {
            "source_environment_id": str(staging.id),
            "target_environment_id": str(prod_env.id),
            "approvals": {"required": True, "approvers": [approver]},
        },
    ]
    return run(factory, tenant, pipelines.create, name=f"p-{uuid.uuid4().hex[:6]}", stages=stages)


def _opened_from(app, tenant, promotion_id) -> list[Promotion]:
    with app.app_context(), tenant_scope(tenant.id):
        found = list(
            db.scalars(select(Promotion).where(Promotion.advanced_from_id == promotion_id))
        )
        db.expunge_all()
    return found


def _orders(factory, tenant, dev, fake):
    return seed(factory, tenant, dev, fake, {"Orders": workflow("Orders")})


def test_a_verified_stage_opens_the_next_awaiting_approval_with_content_from_git(
    app, factory, tenant, dev, staging, prod, fake_n8n, second_n8n, worker
):
    prod_env, prod_n8n = prod
    seeds = _orders(factory, tenant, dev, fake_n8n)
    pipe = _pipeline(factory, tenant, dev, staging, prod_env)
    first = promote(factory, tenant, pipe, dev, staging, seeds)

    assert deploy_now(app, factory, tenant, first).status == "completed"

    [opened] = _opened_from(app, tenant, first.id)
    assert (opened.source_environment_id, opened.target_environment_id) == (staging.id, prod_env.id)
    assert opened.status == "pending_approval" and opened.stage_index == 1
    assert opened.created_by == tenant.user_ids["admin"]
    assert [w["canonical_id"] for w in opened.workflow_selections] == [
        str(seeds["Orders"].canonical_id)
    ]
    first, _, _ = state(app, tenant, first.id)
    assert first.execution_result["next_stage"] == {
        "opened": True,
        "promotion_id": str(opened.id),
    }
    with app.app_context(), tenant_scope(tenant.id):
        notified = db.scalars(
            select(NotificationEvent.resource_id).where(
                NotificationEvent.event_type == "promotion.pending_approval"
            )
        ).all()
    assert str(opened.id) in notified
    # The requester of dev -> staging cannot approve staging -> production themselves.
    with pytest.raises(Forbidden):
        run(factory, tenant, lifecycle.decide, opened.id, principal=principal(tenant), approve=True)
    approved = run(
        factory,
        tenant,
        lifecycle.decide,
        opened.id,
        principal=principal(tenant, "developer"),
        approve=True,
    )
    assert approved.status == "approved"
    # Staging is edited live after its approved copy was committed: production still gets
    # the copy in Git.
    staging_id = state(app, tenant, first.id)[2]["Orders"].target_n8n_id
    edit(second_n8n, staging_id, "https://edited.example/live")

    assert deploy_now(app, factory, tenant, opened).status == "completed"

    [landed] = prod_n8n.store.workflows.values()
    call = next(n for n in landed["nodes"] if n["name"] == "Call")
    assert call["parameters"]["url"] == "https://api.example/v1"
    # The last stage does not advance.
    assert _opened_from(app, tenant, opened.id) == []


def test_a_repeated_completion_opens_the_next_stage_once(
    app, factory, tenant, dev, staging, prod, fake_n8n, second_n8n, worker
):
    seeds = _orders(factory, tenant, dev, fake_n8n)
    pipe = _pipeline(factory, tenant, dev, staging, prod[0])
    first = promote(factory, tenant, pipe, dev, staging, seeds)
    assert deploy_now(app, factory, tenant, first).status == "completed"
    [opened] = _opened_from(app, tenant, first.id)

    def complete_again():
        done = lifecycle.get(first.id)
        stage = pipelines.stage(pipelines.get(done.pipeline_id), done.stage_index)
        outcome = advance.prepare(done, stage, committed=True).record()
        db.commit()
        return outcome

    outcome = run(factory, tenant, complete_again)

    assert outcome == {"next_stage": {"opened": True, "promotion_id": str(opened.id)}}
    assert [p.id for p in _opened_from(app, tenant, first.id)] == [opened.id]


def test_no_advance_after_a_failure_or_without_the_flag(
    app, factory, tenant, dev, staging, prod, fake_n8n, second_n8n, worker
):
    seeds = _orders(factory, tenant, dev, fake_n8n)
    failing = _pipeline(factory, tenant, dev, staging, prod[0])
    second_n8n.fail_path(r"/workflows$", 400, method="POST")
    first = promote(factory, tenant, failing, dev, staging, seeds)

    assert deploy_now(app, factory, tenant, first).status == "failed"

    assert _opened_from(app, tenant, first.id) == []
    second_n8n.clear_faults()
    manual = _pipeline(factory, tenant, dev, staging, prod[0], auto=False)
    second = promote(factory, tenant, manual, dev, staging, seeds)

    assert deploy_now(app, factory, tenant, second).status == "completed"

    assert _opened_from(app, tenant, second.id) == []
    assert "next_stage" not in state(app, tenant, second.id)[0].execution_result


def test_a_manual_rollback_withdraws_the_opened_promotion(
    app, factory, tenant, dev, staging, prod, fake_n8n, second_n8n, worker
):
    seeds = _orders(factory, tenant, dev, fake_n8n)
    pipe = _pipeline(factory, tenant, dev, staging, prod[0])
    first = promote(factory, tenant, pipe, dev, staging, seeds)
    assert deploy_now(app, factory, tenant, first).status == "completed"

    deployment = run(factory, tenant, deployments.rollback, first.id, principal=principal(tenant))
    job = wait_for(app, tenant.id, deployment.rollback_job_id, timeout=60)

    assert job.status == "completed", job.error_message
    [opened] = _opened_from(app, tenant, first.id)
    assert opened.status == "cancelled"
    assert opened.execution_result == {"cancelled_by_rollback_of": str(first.id)}


def test_auto_advance_needs_a_next_stage_from_the_target(factory, tenant, dev, staging):
    stage = {
        "source_environment_id": str(dev.id),
        "target_environment_id": str(staging.id),
        "auto_advance": True,
    }

    with pytest.raises(InvalidInput) as refused:
        run(factory, tenant, pipelines.create, name="last stage advances", stages=[stage])

    assert refused.value.code == "invalid_stages"
