"""Backups and restores at the service level: a retried backup writes the same commit and row,
a restore checks the lease before each write and stops writing once it is lost, onboarding
leaves ambiguous matches unlinked."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from models.db import db
from models.snapshots import Snapshot
from services import canonical_onboarding, git, restore, snapshots
from tests.canonical import rows, run, sync_env
from tests.fake_n8n.server import sample_workflow


class LeaseLost(Exception):
    pass


@pytest.fixture
def dev(factory, tenant, fake_n8n):
    for name in ("Orders", "Billing"):
        fake_n8n.add_workflow(sample_workflow(name))
    env = factory.environment(tenant.id, fake_n8n, environment_class="dev", name="dev")
    sync_env(factory, tenant, env)
    run(factory, tenant, canonical_onboarding.onboard, env.id)
    return env


def test_a_retried_backup_writes_the_same_commit_and_one_row(factory, tenant, dev):
    snapshot_id = uuid.uuid4()
    first = run(factory, tenant, snapshots.backup, dev.id, snapshot_id=snapshot_id)
    again = run(factory, tenant, snapshots.backup, dev.id, snapshot_id=snapshot_id)

    assert again["commit"] == first["commit"]
    count = run(factory, tenant, lambda: db.scalar(select(func.count()).select_from(Snapshot)))
    assert count == 1
    target = run(factory, tenant, git.target_for, dev)
    assert [c.operation for c in run(factory, tenant, git.history, target, "")] == [
        "backup",
        "onboarding",
    ]


def test_restore_checks_the_lease_before_each_write_and_stops_when_lost(
    factory, tenant, dev, fake_n8n
):
    snapshot = run(factory, tenant, snapshots.backup, dev.id, snapshot_id=uuid.uuid4())
    for workflow_id in list(fake_n8n.workflow_ids()):
        changed = sample_workflow(fake_n8n.workflow(workflow_id)["name"])
        changed["nodes"][1]["parameters"] = {"edited": True}
        fake_n8n.store.replace_workflow(workflow_id, changed)
    fake_n8n.clear_requests()
    checks = []

    def lease():
        checks.append(1)
        if len(checks) > 1:
            raise LeaseLost

    with pytest.raises(LeaseLost):
        run(
            factory,
            tenant,
            restore.restore,
            dev.id,
            snapshot_id=uuid.UUID(snapshot["snapshot_id"]),
            lease=lease,
        )
    # The first workflow was written after one check; nothing after the lease was lost.
    assert len(fake_n8n.writes()) == 1 and len(checks) == 2


def test_onboarding_leaves_twins_ambiguous(app, factory, tenant, fake_n8n, second_n8n):
    fake_n8n.add_workflow(sample_workflow("Orders"))
    for _ in range(2):
        second_n8n.add_workflow(sample_workflow("Orders"))
    dev = factory.environment(tenant.id, fake_n8n, environment_class="dev", name="dev")
    staging = factory.environment(tenant.id, second_n8n, environment_class="staging", name="s")
    sync_env(factory, tenant, dev)
    sync_env(factory, tenant, staging)

    report = run(factory, tenant, canonical_onboarding.onboard, dev.id)

    [other] = report["environments"]
    assert other["linked"] == [] and other["unmatched"] == []
    assert len(other["ambiguous"]) == 2
    assert {r.status for r in rows(app, tenant, staging).values()} == {"untracked"}


def test_a_linked_workflow_outside_dev_is_restored_linked_to_its_canonical_workflow(
    app, factory, tenant, second_n8n
):
    wf = second_n8n.add_workflow(sample_workflow("Orders"))["id"]
    staging = factory.environment(tenant.id, second_n8n, environment_class="staging", name="s")
    sync_env(factory, tenant, staging)
    run(factory, tenant, canonical_onboarding.adopt, staging.id, [wf])
    canonical = rows(app, tenant, staging)[wf].canonical_id
    snapshot = run(factory, tenant, snapshots.backup, staging.id, snapshot_id=uuid.uuid4())
    with second_n8n._lock:
        del second_n8n.store.workflows[wf]

    result = run(
        factory, tenant, restore.restore, staging.id,
        snapshot_id=uuid.UUID(snapshot["snapshot_id"]),
    )  # fmt: skip

    [outcome] = result["workflows"]
    assert outcome["action"] == "created" and outcome["canonical_id"] == str(canonical)
    assert rows(app, tenant, staging)[outcome["n8n_id"]].canonical_id == canonical


def test_a_backup_never_overwrites_an_edit_made_in_git_meanwhile(factory, tenant, dev):
    target = run(factory, tenant, git.target_for, dev)
    path = "dev/workflows/orders.json"
    edited = run(factory, tenant, git.read_file, target, path).content.replace(
        b'"name": "Orders"', b'"name": "Orders (by hand)"'
    )
    run(
        factory, tenant, git.commit_changes, target,
        changes={path: edited}, message="By hand", operation="manual",
    )  # fmt: skip

    with pytest.raises(git.GitConflict) as conflict:
        run(factory, tenant, snapshots.backup, dev.id, snapshot_id=uuid.uuid4())

    assert [c.path for c in conflict.value.conflicts] == [path]
    assert run(factory, tenant, git.read_file, target, path).content == edited
    count = run(factory, tenant, lambda: db.scalar(select(func.count()).select_from(Snapshot)))
    assert count == 0
