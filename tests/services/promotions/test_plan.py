"""Compare: each workflow's status in the target (unchanged, modified, added, target_hotfix,
conflict, target_only), and what the policy flags allow."""

from __future__ import annotations

from datetime import UTC, datetime

from services import environments
from services.promotions import gates, pipelines, plan
from tests.canonical import run, sync_env
from tests.promotions import approve, edit, seed, workflow


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
