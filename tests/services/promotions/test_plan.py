"""Compare: each workflow's status in the target (unchanged, modified, added, target_hotfix,
conflict, target_only), and what the policy flags and placeholder credentials allow."""

from __future__ import annotations

from datetime import UTC, datetime

from services import environments
from services.promotions import gates, lifecycle, pipelines, plan
from tests.canonical import run, sync_env
from tests.drift import principal
from tests.promotions import approve, deploy_now, edit, pipeline, promote, seed, state, workflow


def _plan(factory, tenant, dev, staging, ids=None):
    def go():
        return {
            i.name: i.status
            for i in plan.build(environments.get(dev.id), environments.get(staging.id), ids).items
        }

    return run(factory, tenant, go)


def test_each_workflow_gets_its_status_in_the_target(
    factory, tenant, dev, staging, fake_n8n, second_n8n
):
    bodies = {name: workflow(name) for name in ("Same", "Newer", "Hotfix", "Conflict")}
    seeds = seed(factory, tenant, dev, fake_n8n, bodies, staging=staging, fake_staging=second_n8n)
    seeds |= seed(factory, tenant, dev, fake_n8n, {"New": workflow("New")})
    # Dev approves new versions of Newer and Conflict; staging is edited in place for Hotfix
    # and Conflict (a hotfix its approved copy does not have).
    for name in ("Newer", "Conflict"):
        edit(fake_n8n, seeds[name].dev_id, "https://api.example/dev-v2")
    for name in ("Hotfix", "Conflict"):
        edit(second_n8n, seeds[name].staging_id, "https://api.example/hotfix")
    sync_env(factory, tenant, dev)
    sync_env(factory, tenant, staging)
    approve(factory, tenant, dev, fake_n8n, seeds)

    found = _plan(factory, tenant, dev, staging)

    assert found == {
        "Same": "unchanged",
        "Newer": "modified",
        "Hotfix": "target_hotfix",
        "Conflict": "conflict",
        "New": "added",
    }
    stage = run(
        factory,
        tenant,
        lambda: pipelines.StageSchema().load(
            {"source_environment_id": str(dev.id), "target_environment_id": str(staging.id)}
        ),
    )

    def check(flags):
        built = plan.build(environments.get(dev.id), environments.get(staging.id), None)
        report = gates.validate(
            built, stage | {"policy": flags}, principal=None, at=datetime.now(UTC)
        )
        return sorted(e["code"] for e in report.errors)

    strict = pipelines.PolicySchema().load({})
    assert run(factory, tenant, check, strict) == ["conflict", "target_hotfix"]
    lenient = pipelines.PolicySchema().load(
        {"allow_overwriting_hotfixes": True, "allow_force_promotion_on_conflicts": True}
    )
    assert run(factory, tenant, check, lenient) == []


def test_placeholder_credentials_deploy_inactive_when_allowed(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    body = workflow("Needs secret")
    body["nodes"][1]["credentials"] = {"httpHeaderAuth": {"id": "c1", "name": "Missing here"}}
    seeds = seed(factory, tenant, dev, fake_n8n, {"Needs secret": body})
    with fake_n8n._lock:
        fake_n8n.store.set_active(seeds["Needs secret"].dev_id, True, check=False)
    sync_env(factory, tenant, dev)
    approve(factory, tenant, dev, fake_n8n, seeds)
    strict = pipeline(factory, tenant, dev, staging)
    blocked = run(
        factory,
        tenant,
        lifecycle.validate,
        pipeline_id=strict.id,
        source_environment_id=dev.id,
        target_environment_id=staging.id,
        canonical_ids=[seeds["Needs secret"].canonical_id],
        principal=principal(tenant),
    )
    assert [e["code"] for e in blocked["errors"]] == ["credential_missing"]
    lenient = pipeline(
        factory, tenant, dev, staging, policy={"allow_placeholder_credentials": True}
    )
    promotion = promote(factory, tenant, lenient, dev, staging, seeds)

    job = deploy_now(app, factory, tenant, promotion)

    assert job.status == "completed", job.error_message
    promotion, _, by_name = state(app, tenant, promotion.id)
    stored = second_n8n.workflow(by_name["Needs secret"].target_n8n_id)
    assert stored["active"] is False
    [written] = promotion.execution_result["workflows"]
    assert written["placeholders"] == ["httpHeaderAuth:Missing here"]
    assert promotion.execution_result["rewrites"][0]["via"] == "placeholder"
