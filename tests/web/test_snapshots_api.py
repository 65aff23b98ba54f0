"""Backups, restores and the actions on an environment's workflows through the API: the class
rules and roles of the action guard, bulk all-or-nothing, real jobs, Git and fake n8n."""

from __future__ import annotations

import uuid

import pytest

from services import git
from tests.canonical import audit_actions, make_canonical, rows, run, sync_env, wait_job
from tests.drift import on_plan
from tests.fake_n8n.server import sample_workflow

ENVS = "/api/v1/environments"


@pytest.fixture(autouse=True)
def _pro(factory, tenant):
    """Snapshots are a plan feature: these tenants are on pro."""
    on_plan(factory, tenant, "pro")


@pytest.fixture
def dev(factory, tenant, fake_n8n):
    ids = [fake_n8n.add_workflow(sample_workflow(n))["id"] for n in ("Orders", "Billing", "Alerts")]
    env = factory.environment(tenant.id, fake_n8n, environment_class="dev", name="dev")
    sync_env(factory, tenant, env)
    return env, ids


def _act(client, tenant, env, action, ids, role="developer", **extra):
    return client.post(
        f"{ENVS}/{env.id}/workflow-actions",
        json={"action": action, "workflow_ids": [str(i) for i in ids], **extra},
        headers=tenant.headers(role),
    )


def _ids(app, tenant, env, *n8n_ids):
    found = rows(app, tenant, env)
    return [found[n].id for n in n8n_ids]


def test_ignore_unignore_link_unlink_in_bulk_all_or_nothing(app, client, tenant, factory, dev):
    env, (orders, billing, alerts) = dev
    ignored = _act(client, tenant, env, "ignore", _ids(app, tenant, env, orders, billing))
    assert ignored.status_code == 200, ignored.json
    assert {w["status"] for w in ignored.json["workflows"]} == {"ignored"}
    # One wrong workflow refuses the whole call and changes nothing.
    mixed = _act(client, tenant, env, "unignore", _ids(app, tenant, env, orders, alerts))
    assert mixed.status_code == 409 and mixed.json["error"] == "illegal_transition"
    assert [w["status"] for w in mixed.json["details"]["workflows"]] == ["untracked"]
    assert rows(app, tenant, env)[orders].status == "ignored"
    back = _act(client, tenant, env, "unignore", _ids(app, tenant, env, orders, billing))
    assert [w["status"] for w in back.json["workflows"]] == ["untracked", "untracked"]

    assert client.get("/api/v1/canonical-workflows", headers=tenant.viewer).json == []
    cid, other = (make_canonical(factory, tenant, name) for name in ("Orders", "Billing"))
    linked = _act(
        client, tenant, env, "link", _ids(app, tenant, env, orders, billing),
        canonical_ids=[str(cid), str(other)],
    )  # fmt: skip
    assert linked.status_code == 200, linked.json
    assert {w["canonical_id"] for w in linked.json["workflows"]} == {str(cid), str(other)}
    alert = _ids(app, tenant, env, alerts)
    twice = _act(client, tenant, env, "link", alert, canonical_ids=[str(cid)])
    assert twice.status_code == 409 and twice.json["error"] == "already_linked"
    unknown = _act(client, tenant, env, "link", alert, canonical_ids=[str(uuid.uuid4())])
    assert unknown.status_code == 404
    assert _act(client, tenant, env, "link", alert, canonical_ids=[]).status_code == 400
    assert _act(client, tenant, env, "link", alert).status_code == 400
    unlinked = _act(client, tenant, env, "unlink", _ids(app, tenant, env, orders, billing))
    assert {w["status"] for w in unlinked.json["workflows"]} == {"untracked"}
    assert [a[0] for a in audit_actions(app, tenant, "workflow.")] == [
        "workflow.ignore",
        "workflow.unignore",
        "workflow.link",
        "workflow.unlink",
    ]
    assert _act(client, tenant, env, "ignore", [uuid.uuid4()]).status_code == 404
    assert (
        _act(client, tenant, env, "ignore", _ids(app, tenant, env, alerts), "viewer").status_code
        == 403
    )


def test_production_actions_take_an_admin_and_follow_the_class_rules(
    app, client, tenant, factory, second_n8n, other_tenant
):
    wf = second_n8n.add_workflow(sample_workflow("Orders"))["id"]
    prod = factory.environment(tenant.id, second_n8n, environment_class="production", name="prod")
    sync_env(factory, tenant, prod)
    [wid] = _ids(app, tenant, prod, wf)
    by_developer = _act(client, tenant, prod, "ignore", [wid])
    assert by_developer.status_code == 403 and by_developer.json["error"] == "action_blocked"
    assert by_developer.json["details"]["required_role"] == "admin"
    assert _act(client, tenant, prod, "ignore", [wid], "admin").status_code == 200
    _act(client, tenant, prod, "unignore", [wid], "admin")
    create = _act(client, tenant, prod, "create_canonical", [wid], "admin")
    assert create.status_code == 403
    assert create.json["details"]["environment_class"] == "production"
    assert "DEV" in create.json["details"]["rule"]
    assert rows(app, tenant, prod)[wf].canonical_id is None
    stranger = client.post(
        f"{ENVS}/{prod.id}/workflow-actions",
        json={"action": "ignore", "workflow_ids": [str(wid)]},
        headers=other_tenant.admin,
    )
    assert stranger.status_code == 404


def test_create_canonical_commits_and_links(app, client, tenant, factory, dev, worker):
    env, (orders, billing, _) = dev
    answer = _act(client, tenant, env, "create_canonical", _ids(app, tenant, env, orders, billing))
    assert answer.status_code == 200 and answer.json["job"]["job_type"] == "workflow_manage"
    job = wait_job(client, tenant, answer.json["job"]["id"])
    assert job["status"] == "completed", job
    assert len(job["result"]["created"]) == 2
    found = rows(app, tenant, env)
    assert found[orders].status == "linked" and found[billing].status == "linked"
    target = run(factory, tenant, git.target_for, env)
    [commit] = run(factory, tenant, git.history, target, "")
    assert commit.operation == "create_canonical"
    assert commit.user_id == str(tenant.user_ids["developer"])


def test_backup_then_restore_in_place_and_recreate_what_is_gone(
    app, client, tenant, factory, dev, fake_n8n, worker
):
    env, (orders, billing, alerts) = dev
    managed = _act(client, tenant, env, "create_canonical", _ids(app, tenant, env, orders))
    wait_job(client, tenant, managed.json["job"]["id"])
    backup = client.post(f"{ENVS}/{env.id}/backup", json={}, headers=tenant.developer)
    assert backup.status_code == 202, backup.json
    job = wait_job(client, tenant, backup.json["id"])
    assert job["status"] == "completed", job
    result = job["result"]
    assert result["workflows"] == 3 and result["approved_copies"] == 1
    listed = client.get(f"{ENVS}/{env.id}/snapshots", headers=tenant.viewer).json
    assert [s["id"] for s in listed] == [result["snapshot_id"]]
    assert listed[0]["git_commit_sha"] == result["commit"]
    target = run(factory, tenant, git.target_for, env)
    paths = {f.path for f in run(factory, tenant, git.list_files, target).files}
    folder = f"dev/snapshots/{result['snapshot_id']}"
    assert paths == {
        "dev/workflows/orders.json",
        f"{folder}/manifest.json",
        f"{folder}/n8n-{billing}.json",
        f"{folder}/n8n-{alerts}.json",
    }

    # Orders is edited in n8n, Billing deleted.
    changed = sample_workflow("Orders")
    changed["nodes"][1]["name"] = "Renamed"
    changed["connections"] = {}
    fake_n8n.store.replace_workflow(orders, changed)
    with fake_n8n._lock:
        del fake_n8n.store.workflows[billing]
    blocked = client.post(
        f"{ENVS}/{env.id}/restore",
        json={"snapshot_id": result["snapshot_id"]},
        headers=tenant.developer,
    )
    assert blocked.status_code == 403 and blocked.json["details"]["action"] == "restore"
    flag = client.put(
        "/api/v1/workflow-policy/dev/restore", json={"enabled": True}, headers=tenant.admin
    )
    assert flag.status_code == 200, flag.json
    started = client.post(
        f"{ENVS}/{env.id}/restore",
        json={"snapshot_id": result["snapshot_id"], "n8n_ids": [orders, billing]},
        headers=tenant.developer,
    )
    assert started.status_code == 202, started.json
    restored = wait_job(client, tenant, started.json["id"])
    assert restored["status"] == "completed", restored
    assert restored["result"]["updated"] == 1 and restored["result"]["created"] == 1
    assert {n["name"] for n in fake_n8n.workflow(orders)["nodes"]} == {"Schedule Trigger", "No Op"}
    recreated = [o["n8n_id"] for o in restored["result"]["workflows"] if o["action"] == "created"]
    assert fake_n8n.workflow(recreated[0])["name"] == "Billing"
    assert orders in fake_n8n.workflow_ids() and billing not in fake_n8n.workflow_ids()


def test_restore_from_a_commit_and_bad_requests(
    app, client, tenant, factory, dev, fake_n8n, worker
):
    env, (orders, _, _) = dev
    managed = _act(client, tenant, env, "create_canonical", _ids(app, tenant, env, orders))
    commit = wait_job(client, tenant, managed.json["job"]["id"])["result"]["commit"]
    changed = sample_workflow("Orders")
    changed["nodes"][1]["parameters"] = {"note": "edited"}
    fake_n8n.store.replace_workflow(orders, changed)
    client.put("/api/v1/workflow-policy/dev/restore", json={"enabled": True}, headers=tenant.admin)
    neither = client.post(f"{ENVS}/{env.id}/restore", json={}, headers=tenant.developer)
    assert neither.status_code in (400, 422)
    started = client.post(
        f"{ENVS}/{env.id}/restore", json={"commit": commit}, headers=tenant.developer
    )
    job = wait_job(client, tenant, started.json["id"])
    assert job["status"] == "completed", job
    assert [o["n8n_id"] for o in job["result"]["workflows"]] == [orders]
    by_name = {n["name"]: n for n in fake_n8n.workflow(orders)["nodes"]}
    assert by_name["No Op"]["parameters"] == {}
    viewer_backup = client.post(f"{ENVS}/{env.id}/backup", json={}, headers=tenant.viewer)
    assert viewer_backup.status_code == 403


def test_snapshot_only_backs_up_an_unmanaged_staging_workflow(
    app, client, tenant, factory, second_n8n, worker
):
    wf = second_n8n.add_workflow(sample_workflow("Reports"))["id"]
    staging = factory.environment(tenant.id, second_n8n, environment_class="staging", name="stg")
    sync_env(factory, tenant, staging)
    backup = client.post(f"{ENVS}/{staging.id}/backup", json={}, headers=tenant.admin)
    assert backup.status_code == 403 and backup.json["details"]["action"] == "backup"
    answer = _act(client, tenant, staging, "snapshot_only", _ids(app, tenant, staging, wf))
    assert answer.status_code == 200, answer.json
    job = wait_job(client, tenant, answer.json["job"]["id"])
    assert job["status"] == "completed", job
    assert job["result"]["workflows"] == 1 and job["result"]["approved_copies"] == 0
    assert rows(app, tenant, staging)[wf].status == "untracked"
    [snapshot] = client.get(f"{ENVS}/{staging.id}/snapshots", headers=tenant.viewer).json
    assert snapshot["snapshot_type"] == "manual_backup"
    assert snapshot["workflows"][0]["path"].endswith(f"/n8n-{wf}.json")


def test_backups_are_a_plan_feature(client, factory, tenant, dev):
    env, _ = dev
    on_plan(factory, tenant, "free")
    refused = client.post(f"{ENVS}/{env.id}/backup", json={}, headers=tenant.developer)
    assert refused.status_code == 403 and refused.json["error"] == "feature_not_entitled"
