"""Executing a promotion between two fake n8n instances: in place (same n8n ids and webhook
ids), created when not linked, sub-workflow and credential references rewritten, the
target's approved copies and snapshots recorded; a failure rolls back what was applied."""

from __future__ import annotations

import copy

from tests.canonical import audit_actions, link, make_canonical, rows, states, sync_env
from tests.promotions import (
    Seed,
    approve,
    deploy_now,
    map_credential,
    new_version_in_dev,
    pipeline,
    promote,
    seed,
    state,
    workflow,
)


def test_promotion_updates_in_place_keeping_ids_and_webhooks(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    seeds = seed(
        factory,
        tenant,
        dev,
        fake_n8n,
        {"Orders": workflow("Orders")},
        staging=staging,
        fake_staging=second_n8n,
    )
    target_id = seeds["Orders"].staging_id
    before = copy.deepcopy(second_n8n.workflow(target_id))
    new_version_in_dev(factory, tenant, dev, fake_n8n, seeds)
    pipe = pipeline(factory, tenant, dev, staging)
    promotion = promote(factory, tenant, pipe, dev, staging, seeds)
    assert promotion.status == "pending"
    assert promotion.workflow_selections[0]["status"] == "modified"

    job = deploy_now(app, factory, tenant, promotion)

    assert job.status == "completed", job.error_message
    after = second_n8n.workflow(target_id)
    assert second_n8n.workflow_ids() == {target_id}
    assert {n["name"]: (n["id"], n.get("webhookId")) for n in after["nodes"]} == {
        n["name"]: (n["id"], n.get("webhookId")) for n in before["nodes"]
    }
    call = next(n for n in after["nodes"] if n["name"] == "Call")
    assert call["parameters"]["url"] == "https://api.example/v2"
    promotion, deployment, by_name = state(app, tenant, promotion.id)
    assert promotion.status == deployment.status == "completed"
    assert by_name["Orders"].status == "success" and by_name["Orders"].action == "updated"
    assert promotion.target_pre_snapshot_id and promotion.target_post_snapshot_id
    # The target's approved copy is now the promoted version, aligned with its runtime.
    row = rows(app, tenant, staging)[target_id]
    assert row.env_content_hash == row.git_content_hash
    approved_here = states(app, tenant, staging)[seeds["Orders"].canonical_id]
    assert approved_here.git_content_hash == row.git_content_hash
    actions = [a for a, _, _ in audit_actions(app, tenant, "promotion.")]
    assert "promotion.snapshot" in actions and "promotion.completed" in actions


def test_subworkflow_and_credential_references_are_rewritten(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    callee = fake_n8n.add_workflow(workflow("Callee"))
    caller = workflow("Caller")
    caller["nodes"][1].update(
        type="n8n-nodes-base.executeWorkflow",
        typeVersion=1.2,
        parameters={
            "source": "database",
            "workflowId": {"__rl": True, "mode": "id", "value": callee["id"]},
        },
    )
    caller["nodes"].append(
        {
            "name": "Notify",
            "type": "n8n-nodes-base.slack",
            "typeVersion": 2.2,
            "position": [440, 0],
            "parameters": {},
            "credentials": {"slackApi": {"id": "devCred", "name": "Slack dev"}},
        }
    )
    seeds = {"Callee": Seed(make_canonical(factory, tenant, "Callee"), callee["id"])}
    sync_env(factory, tenant, dev)
    link(factory, tenant, dev, callee["id"], seeds["Callee"].canonical_id)
    seeds |= seed(factory, tenant, dev, fake_n8n, {"Caller": caller})
    approve(factory, tenant, dev, fake_n8n, seeds)
    # Staging knows its Slack credential (a workflow uses it) under another name.
    uses_slack = workflow("Uses slack")
    uses_slack["nodes"][1]["credentials"] = {"slackApi": {"id": "prodCred", "name": "Slack prod"}}
    second_n8n.add_workflow(uses_slack)
    sync_env(factory, tenant, staging)
    map_credential(factory, tenant, "slackApi", "Slack", {dev: "Slack dev", staging: "Slack prod"})
    pipe = pipeline(factory, tenant, dev, staging)
    promotion = promote(factory, tenant, pipe, dev, staging, seeds)

    job = deploy_now(app, factory, tenant, promotion)

    assert job.status == "completed", job.error_message
    promotion, _, by_name = state(app, tenant, promotion.id)
    assert by_name["Callee"].action == by_name["Caller"].action == "created"
    new_callee = by_name["Callee"].target_n8n_id
    new_caller = second_n8n.workflow(by_name["Caller"].target_n8n_id)
    call = next(n for n in new_caller["nodes"] if n["name"] == "Call")
    assert call["parameters"]["workflowId"]["value"] == new_callee != callee["id"]
    notify = next(n for n in new_caller["nodes"] if n["name"] == "Notify")
    assert notify["credentials"]["slackApi"] == {"id": "prodCred", "name": "Slack prod"}
    rewrite = {
        "workflow": "Caller",
        "node": "Notify",
        "type": "slackApi",
        "from": "Slack dev",
        "to": {"id": "prodCred", "name": "Slack prod"},
        "via": "mapping",
    }
    assert rewrite in promotion.execution_result["rewrites"]


def test_a_mapped_credential_leaves_the_target_aligned_for_the_next_promotion(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    """The target's runtime names its own credential, its approved copy the source's: both
    digest through the mapping (found on a real n8n: the second promotion was a conflict)."""
    uses_slack = workflow("Uses slack")
    uses_slack["nodes"][1]["credentials"] = {"slackApi": {"id": "prodCred", "name": "Slack prod"}}
    second_n8n.add_workflow(uses_slack)
    sync_env(factory, tenant, staging)
    map_credential(factory, tenant, "slackApi", "Slack", {dev: "Slack dev", staging: "Slack prod"})
    keyed = workflow("Keyed")
    keyed["nodes"][1]["credentials"] = {"slackApi": {"id": "devCred", "name": "Slack dev"}}
    seeds = seed(factory, tenant, dev, fake_n8n, {"Keyed": keyed})
    pipe = pipeline(factory, tenant, dev, staging)
    first = promote(factory, tenant, pipe, dev, staging, seeds)
    assert deploy_now(app, factory, tenant, first).status == "completed"
    target_id = state(app, tenant, first.id)[2]["Keyed"].target_n8n_id

    row = rows(app, tenant, staging)[target_id]
    assert row.env_content_hash == row.git_content_hash
    new_version_in_dev(factory, tenant, dev, fake_n8n, seeds)
    second = promote(factory, tenant, pipe, dev, staging, seeds)
    assert second.workflow_selections[0]["status"] == "modified"
    assert deploy_now(app, factory, tenant, second).status == "completed"
    assert state(app, tenant, second.id)[2]["Keyed"].target_n8n_id == target_id
