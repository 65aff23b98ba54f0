"""Executing a promotion between two fake n8n instances: in place (same n8n ids and webhook
ids), created when not linked, sub-workflow and credential references rewritten, the
target's approved copies and snapshots recorded; a failure rolls back what was applied."""

from __future__ import annotations

import copy
import threading

from sqlalchemy import text

from models.db import db
from models.snapshots import Snapshot
from services import deploy, git
from services.promotions import records
from tests.canonical import audit_actions, link, make_canonical, rows, run, states, sync_env
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


def test_the_first_window_is_marked_applying_with_the_pre_promotion_snapshot(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker, monkeypatch
):
    """One transaction records the snapshot, the rows and the first window's intent: the
    first write needs no commit of its own."""
    _, promotion = _promoted(factory, tenant, dev, staging, fake_n8n, second_n8n)
    real_write = deploy.EnvironmentWriter.write
    seen = []

    def look():
        seen.append(
            db.execute(
                text(
                    "SELECT w.status, w.xmin::text = s.xmin::text FROM promotions p"
                    " JOIN snapshots s ON s.id = p.target_pre_snapshot_id"
                    " JOIN deployments d ON d.promotion_id = p.id"
                    " JOIN deployment_workflows w ON w.deployment_id = d.id"
                    " WHERE p.id = :promotion"
                ),
                {"promotion": promotion.id},
            ).all()
        )

    def look_then_write(writer, *args, **options):
        if not seen:  # from another thread: what is committed before the first write
            reader = threading.Thread(target=run, args=(factory, tenant, look))
            reader.start()
            reader.join()
        return real_write(writer, *args, **options)

    monkeypatch.setattr(deploy.EnvironmentWriter, "write", look_then_write)

    assert deploy_now(app, factory, tenant, promotion).status == "completed"
    assert seen[0] == [("applying", True), ("applying", True)]


def test_the_post_promotion_snapshot_is_recorded_with_the_completion(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    _, promotion = _promoted(factory, tenant, dev, staging, fake_n8n, second_n8n)

    assert deploy_now(app, factory, tenant, promotion).status == "completed"
    together = run(
        factory,
        tenant,
        lambda: db.scalar(
            text(
                "SELECT p.status = 'completed' AND p.xmin::text = s.xmin::text FROM promotions p"
                " JOIN snapshots s ON s.id = p.target_post_snapshot_id WHERE p.id = :id"
            ),
            {"id": promotion.id},
        ),
    )
    assert together is True


def test_the_last_outcomes_and_the_targets_map_commit_together(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    _, promotion = _promoted(factory, tenant, dev, staging, fake_n8n, second_n8n)

    assert deploy_now(app, factory, tenant, promotion).status == "completed"
    pairs = run(
        factory,
        tenant,
        lambda: db.execute(
            text(
                "SELECT w.status, w.xmin::text = m.xmin::text FROM deployments d"
                " JOIN deployment_workflows w ON w.deployment_id = d.id"
                " JOIN workflow_env_map m ON m.environment_id = :target"
                "  AND m.n8n_workflow_id = w.target_n8n_id"
                " WHERE d.promotion_id = :id"
            ),
            {"id": promotion.id, "target": staging.id},
        ).all(),
    )
    assert pairs == [("success", True), ("success", True)]


def _promoted(factory, tenant, dev, staging, fake_n8n, second_n8n):
    """Two linked workflows, a newer version approved in dev, a pending promotion."""
    bodies = {name: workflow(name) for name in ("Orders", "Refunds")}
    seeds = seed(factory, tenant, dev, fake_n8n, bodies, staging=staging, fake_staging=second_n8n)
    new_version_in_dev(factory, tenant, dev, fake_n8n, seeds)
    pipe = pipeline(factory, tenant, dev, staging)
    return seeds, promote(factory, tenant, pipe, dev, staging, seeds)


def _git_state(app, factory, tenant, staging, promotion_id):
    """The staging repository's head commit and the promotion's two snapshot rows."""
    promotion, _, _ = state(app, tenant, promotion_id)

    def read():
        target = git.target_for(staging)
        snapshots = {
            s.id: s.git_commit_sha
            for s in db.query(Snapshot).filter(Snapshot.environment_id == staging.id)
        }
        head = git.commit_info(target, git.head(target))
        blobs = {f.path: f.blob_sha for f in git.list_files(target, contents=False).files}
        return head, snapshots, blobs

    head, snapshots, blobs = run(factory, tenant, read)
    pre = promotion.target_pre_snapshot_id
    return head, snapshots[pre], snapshots[promotion.target_post_snapshot_id], blobs, str(pre)


def test_the_approved_copies_commit_follows_the_snapshot_commit(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    seeds, promotion = _promoted(factory, tenant, dev, staging, fake_n8n, second_n8n)

    job = deploy_now(app, factory, tenant, promotion)

    assert job.status == "completed", job.error_message
    head, pre, post, blobs, pre_id = _git_state(app, factory, tenant, staging, promotion.id)
    assert head.operation == "promotion" and head.parents == (pre,) and post == head.sha
    assert head.links == {"promotion": str(promotion.id), "snapshot": pre_id}
    cache = states(app, tenant, staging)
    for s in seeds.values():
        assert cache[s.canonical_id].last_commit_sha == head.sha
        assert cache[s.canonical_id].blob_sha == blobs[cache[s.canonical_id].git_path]


def test_approved_copies_are_committed_anew_when_the_branch_moved_during_the_deployment(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker, monkeypatch
):
    seeds, promotion = _promoted(factory, tenant, dev, staging, fake_n8n, second_n8n)
    real = records.before_writes
    theirs = []

    def snapshot_then_someone_commits(*args, **options):
        snapshot = real(*args, **options)
        built = args[3]
        target = git.target_for(built.target)
        change = {f"{target.folder}/notes.txt": b"someone else"}
        theirs.append(git.commit_changes(target, changes=change, message="x", operation="x"))
        return snapshot

    monkeypatch.setattr(records, "before_writes", snapshot_then_someone_commits)

    job = deploy_now(app, factory, tenant, promotion)

    assert job.status == "completed", job.error_message
    head, pre, post, blobs, _ = _git_state(app, factory, tenant, staging, promotion.id)
    assert theirs[0].parent == pre
    assert head.operation == "promotion" and head.parents == (theirs[0].sha,)
    assert post == head.sha and any(path.endswith("/notes.txt") for path in blobs)
    cache = states(app, tenant, staging)
    for s in seeds.values():
        assert cache[s.canonical_id].last_commit_sha == head.sha
        assert cache[s.canonical_id].blob_sha == blobs[cache[s.canonical_id].git_path]
