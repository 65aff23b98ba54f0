"""Canonical onboarding, the matrix, diffs, history and repo sync through the API, with a real
worker, real Git (the embedded repository) and fake n8n instances."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services import git
from services.workflow_file import dump, parse
from tests.canonical import audit_actions, rows, run, states, sync_env, wait_job
from tests.fake_n8n.server import sample_workflow

URL = "/api/v1/canonical-workflows"


def _variant(name: str, hours: int) -> dict:
    body = sample_workflow(name)
    body["nodes"][0]["parameters"] = {
        "rule": {"interval": [{"field": "hours", "hoursInterval": hours}]}
    }
    return body


@pytest.fixture
def dev(factory, tenant, fake_n8n):
    return factory.environment(tenant.id, fake_n8n, environment_class="dev", name="dev")


@pytest.fixture
def staging(factory, tenant, second_n8n):
    return factory.environment(tenant.id, second_n8n, environment_class="staging", name="staging")


@pytest.fixture
def seeded(factory, tenant, dev, staging, fake_n8n, second_n8n):
    """dev runs Orders, Billing, Alerts; staging runs the same Orders and Billing (other n8n
    ids) and an Alerts that differs."""
    for name, hours in (("Orders", 1), ("Billing", 2), ("Alerts", 3)):
        fake_n8n.add_workflow(_variant(name, hours))
    for name, hours in (("Orders", 1), ("Billing", 2), ("Alerts", 9)):
        second_n8n.add_workflow(_variant(name, hours))
    sync_env(factory, tenant, dev)
    sync_env(factory, tenant, staging)


def _onboard(client, tenant, dev) -> dict:
    started = client.post(
        f"{URL}/onboarding", json={"anchor_id": str(dev.id)}, headers=tenant.admin
    )
    assert started.status_code == 202, started.json
    job = wait_job(client, tenant, started.json["id"])
    assert job["status"] == "completed", job
    return job["result"]


def test_onboarding_adopts_the_anchor_and_links_exact_matches(
    app, client, tenant, factory, dev, staging, seeded, worker
):
    preflight = client.get(f"{URL}/onboarding/preflight?anchor_id={dev.id}", headers=tenant.viewer)
    assert preflight.json["ready"], preflight.json

    report = _onboard(client, tenant, dev)

    assert report["anchor"]["canonical_created"] == 3 and report["anchor"]["linked"] == 3
    [other] = report["environments"]
    assert sorted(w["n8n_id"] for w in other["linked"]) == sorted(
        r.n8n_workflow_id
        for r in rows(app, tenant, staging).values()
        if r.workflow_name != "Alerts"
    )
    assert [w["name"] for w in other["unmatched"]] == ["Alerts"]
    assert report["totals"] == {"linked": 2, "ambiguous": 0, "unmatched": 1}
    # One commit per environment, with who and why.
    target = run(factory, tenant, git.target_for, dev)
    commits = run(factory, tenant, git.history, target, "")
    assert [c.operation for c in commits] == ["onboarding", "onboarding"]
    assert {c.user_id for c in commits} == {str(tenant.user_ids["admin"])}
    listing = run(factory, tenant, git.list_files, target)
    assert sorted(f.path for f in listing.files) == [
        "dev/workflows/alerts.json",
        "dev/workflows/billing.json",
        "dev/workflows/orders.json",
    ]
    assert len(states(app, tenant, staging)) == 2
    # The matrix: everything linked is in sync; Alerts is absent from staging (not linked).
    matrix = client.get(f"{URL}/matrix", headers=tenant.viewer).json
    assert [r["slug"] for r in matrix["rows"]] == ["alerts", "billing", "orders"]
    cells = {r["slug"]: {k: c["state"] for k, c in r["cells"].items()} for r in matrix["rows"]}
    assert cells["orders"] == {str(dev.id): "in_sync", str(staging.id): "in_sync"}
    assert cells["alerts"] == {str(dev.id): "in_sync", str(staging.id): "absent"}
    staging_env = next(e for e in matrix["environments"] if e["id"] == str(staging.id))
    assert staging_env["untracked"] == 1
    latest = client.get(f"{URL}/onboarding", headers=tenant.viewer).json
    assert latest["result"] == report
    assert [a[0] for a in audit_actions(app, tenant, "canonical_onboarding")] == [
        "canonical_onboarding.start"
    ]


def test_onboarding_preflight_and_roles(client, tenant, factory, dev, fake_n8n):
    answer = client.get(f"{URL}/onboarding/preflight?anchor_id={dev.id}", headers=tenant.viewer)
    assert answer.json["ready"] is False
    failed = [c["check"] for c in answer.json["checks"] if not c["ok"]]
    assert failed == ["anchor_synced"]
    refused = client.post(
        f"{URL}/onboarding", json={"anchor_id": str(dev.id)}, headers=tenant.admin
    )
    assert refused.status_code == 409 and refused.json["error"] == "preflight_failed"
    forbidden = client.post(
        f"{URL}/onboarding", json={"anchor_id": str(dev.id)}, headers=tenant.developer
    )
    assert forbidden.status_code == 403


def test_matrix_states_filters_and_pages(
    app, client, tenant, factory, dev, staging, seeded, worker, fake_n8n
):
    _onboard(client, tenant, dev)
    # Someone edits Orders in dev's n8n: drift there, nowhere else.
    orders = next(r for r in rows(app, tenant, dev).values() if r.workflow_name == "Orders")
    fake_n8n.store.replace_workflow(orders.n8n_workflow_id, _variant("Orders", 7))
    sync_env(factory, tenant, dev)

    drift = client.get(f"{URL}/matrix?state=drift", headers=tenant.viewer).json
    assert [r["slug"] for r in drift["rows"]] == ["orders"]
    cell = drift["rows"][0]["cells"][str(dev.id)]
    assert cell["state"] == "drift" and cell["diff"].endswith(
        f"left=git:{dev.id}&right=env:{dev.id}"
    )
    # The link explains it: the schedule's parameter changed.
    diff = client.get(cell["diff"], headers=tenant.viewer)
    assert diff.status_code == 200, diff.json
    assert diff.json["identical"] is False
    assert any("hoursInterval" in c["path"] for c in diff.json["changes"])
    # An ignore rule covering it: the versions no longer differ, the change is listed as ignored.
    rule = "$.nodes[*].parameters.rule"
    client.post("/api/v1/ignore-rules", json={"rule": rule}, headers=tenant.admin)
    ignored = client.get(cell["diff"], headers=tenant.viewer).json
    assert ignored["identical"] is True and ignored["changes"] == []
    assert [c["ignored_by"] for c in ignored["ignored"]] == [rule]

    first = client.get(f"{URL}/matrix?limit=2", headers=tenant.viewer).json
    second = client.get(f"{URL}/matrix?limit=2&page=2", headers=tenant.viewer).json
    assert first["has_more"] and not second["has_more"]
    assert [r["slug"] for r in first["rows"] + second["rows"]] == ["alerts", "billing", "orders"]
    only_staging = client.get(
        f"{URL}/matrix?state=absent&environment_id={staging.id}", headers=tenant.viewer
    ).json
    assert [r["slug"] for r in only_staging["rows"]] == ["alerts"]
    assert list(only_staging["rows"][0]["cells"]) == [str(staging.id)]
    bad = client.get(f"{URL}/matrix?state=sideways", headers=tenant.viewer)
    assert bad.status_code in (400, 422) and "state" in str(bad.json)


def test_diff_between_environments_and_bad_sides(
    app, client, tenant, factory, dev, staging, seeded, worker, other_tenant
):
    _onboard(client, tenant, dev)
    matrix = client.get(f"{URL}/matrix", headers=tenant.viewer).json
    orders = next(r for r in matrix["rows"] if r["slug"] == "orders")["canonical_id"]
    same = client.get(
        f"{URL}/{orders}/diff?left=env:{dev.id}&right=env:{staging.id}", headers=tenant.viewer
    )
    assert same.status_code == 200 and same.json["identical"] is True
    assert same.json["changes"] == []
    bad = client.get(f"{URL}/{orders}/diff?left=prod&right=env:{dev.id}", headers=tenant.viewer)
    assert bad.status_code == 400 and bad.json["error"] == "invalid_side"
    stranger = client.get(
        f"{URL}/{orders}/diff?left=env:{dev.id}&right=env:{staging.id}",
        headers=other_tenant.viewer,
    )
    assert stranger.status_code == 404


def test_history_content_and_repo_sync_pick_up_edits_made_in_git(
    app, client, tenant, factory, dev, staging, seeded, worker
):
    _onboard(client, tenant, dev)
    matrix = client.get(f"{URL}/matrix", headers=tenant.viewer).json
    orders = next(r for r in matrix["rows"] if r["slug"] == "orders")["canonical_id"]
    target = run(factory, tenant, git.target_for, dev)
    path = "dev/workflows/orders.json"
    before = run(factory, tenant, git.read_file, target, path)
    # A person edits the file in Git, adds a broken one, and adds a new workflow's file.
    edited = parse(before.content)
    edited_bytes = dump(replace(edited, name="Orders (reviewed)"))
    new_file = dump(
        replace(
            edited,
            canonical_id="6a1c3c8e-3f0e-4a43-9a57-0f7f3a1d9b10",
            slug="refunds",
            name="Refunds",
        )
    )
    run(
        factory,
        tenant,
        git.commit_changes,
        target,
        changes={
            path: edited_bytes,
            "dev/workflows/broken.json": b"{not json",
            "dev/workflows/refunds.json": new_file,
            "dev/workflows/billing.json": None,
        },
        message="Rename orders by hand",
        operation="manual",
    )

    started = client.post(
        f"{URL}/repo-sync", json={"environment_id": str(dev.id)}, headers=tenant.developer
    )
    assert started.status_code == 202, started.json
    job = wait_job(client, tenant, started.json["id"])
    assert job["status"] == "completed", job
    report = job["result"]
    assert report["unchanged"] == 1
    assert [r["path"] for r in report["removed"]] == ["dev/workflows/billing.json"]
    assert [u["path"] for u in report["updated"]] == [path]
    assert [a["path"] for a in report["added"]] == ["dev/workflows/refunds.json"]
    assert [i["path"] for i in report["invalid"]] == ["dev/workflows/broken.json"]
    matrix = client.get(f"{URL}/matrix?state=out_of_date", headers=tenant.viewer).json
    assert [r["slug"] for r in matrix["rows"]] == ["orders"]
    # Billing runs, linked, but Git no longer holds its approved copy here.
    matrix = client.get(f"{URL}/matrix?state=untracked", headers=tenant.viewer).json
    assert [r["slug"] for r in matrix["rows"]] == ["billing"]
    refunds = client.get(f"{URL}?name=Refunds", headers=tenant.viewer).json
    assert [r["id"] for r in refunds] == ["6a1c3c8e-3f0e-4a43-9a57-0f7f3a1d9b10"]

    history = client.get(f"{URL}/{orders}/history?environment_id={dev.id}", headers=tenant.viewer)
    assert [c["operation"] for c in history.json] == ["manual", "onboarding"]
    old = history.json[1]["sha"]
    content = client.get(
        f"{URL}/{orders}/content?environment_id={dev.id}&commit={old}", headers=tenant.viewer
    )
    assert content.status_code == 200 and '"name": "Orders"' in content.json["content"]
    between = client.get(
        f"{URL}/{orders}/diff?left=git:{dev.id}@{old}&right=git:{dev.id}", headers=tenant.viewer
    )
    assert between.json["identical"] is False
    assert any(c["section"] == "workflow" for c in between.json["changes"])
