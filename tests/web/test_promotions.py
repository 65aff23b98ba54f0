"""The promotion API: pipelines, the lifecycle with approvals (never one's own; 1-of-N or
all), supersession, guarded transitions (409), validation listing every error at once,
scheduled deployments started once by two clocks, credential mappings, other tenants 404."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from models.db import db, tenant_scope
from models.promotions import Deployment
from services import credentials as inventory
from services.promotions import deployments
from tests.drift import on_plan, set_environment
from tests.promotions import seed, workflow


def set_deployment(app, tenant, deployment_id, **values) -> None:
    with app.app_context(), tenant_scope(tenant.id):
        row = db.get(Deployment, deployment_id)
        for key, value in values.items():
            setattr(row, key, value)
        db.commit()
        db.remove()


def credential_inventory(env_id) -> None:
    """The environment's credentials as a refresh records them."""
    from services import sync

    sync.sync_workflows(env_id)
    inventory.sync_inventory(env_id)


@pytest.fixture(autouse=True)
def _entitled(factory, tenant):
    on_plan(factory, tenant, "pro")


@pytest.fixture
def dev(factory, tenant, fake_n8n):
    return factory.environment(tenant.id, fake_n8n, environment_class="dev")


@pytest.fixture
def staging(factory, tenant, second_n8n):
    return factory.environment(tenant.id, second_n8n, environment_class="staging")


@pytest.fixture
def seeds(factory, tenant, dev, fake_n8n):
    return seed(factory, tenant, dev, fake_n8n, {"Orders": workflow("Orders")})


def _pipeline(client, tenant, dev, staging, **stage):
    body = {
        "name": "dev to staging",
        "stages": [
            {
                "source_environment_id": str(dev.id),
                "target_environment_id": str(staging.id),
                **stage,
            }
        ],
    }
    response = client.post("/api/v1/pipelines", json=body, headers=tenant.admin)
    assert response.status_code == 201, response.json
    return response.json


def _selection(pipe, dev, staging, seeds):
    return {
        "pipeline_id": pipe["id"],
        "source_environment_id": str(dev.id),
        "target_environment_id": str(staging.id),
        "canonical_ids": [str(s.canonical_id) for s in seeds.values()],
    }


def test_pipeline_crud_and_activation(client, tenant, other_tenant, dev, staging):
    pipe = _pipeline(client, tenant, dev, staging, approvals={"required": True})
    assert pipe["stages"][0]["gates"]["max_allowed_risk_level"] == "high"
    assert pipe["stages"][0]["approvals"] == {"required": True, "approvers": [], "mode": "any"}
    url = f"/api/v1/pipelines/{pipe['id']}"

    assert client.post(f"{url}/deactivate", headers=tenant.admin).json["is_active"] is False
    assert client.post(f"{url}/activate", headers=tenant.admin).json["is_active"] is True
    renamed = client.patch(url, json={"name": "route"}, headers=tenant.admin)
    assert renamed.status_code == 200 and renamed.json["name"] == "route"
    assert client.patch(url, json={"name": "x"}, headers=tenant.developer).status_code == 403
    assert client.get(url, headers=other_tenant.admin).status_code == 404
    bad = client.post(
        "/api/v1/pipelines",
        headers=tenant.admin,
        json={
            "name": "bad",
            "stages": [
                {"source_environment_id": str(dev.id), "target_environment_id": str(dev.id)}
            ],
        },
    )
    assert bad.status_code == 422
    window = {"timezone": "Mars/Olympus", "start": "25:00", "end": "10:00"}
    bad = client.patch(
        url,
        headers=tenant.admin,
        json={
            "stages": [
                {
                    "source_environment_id": str(dev.id),
                    "target_environment_id": str(staging.id),
                    "schedule_window": window,
                }
            ]
        },
    )
    assert bad.status_code == 422
    assert client.delete(url, headers=tenant.admin).status_code == 204
    assert client.get(url, headers=tenant.admin).status_code == 404


def test_a_stage_advances_only_into_a_next_stage_from_its_target(
    client, tenant, dev, staging, seeds
):
    stage = {"source_environment_id": str(dev.id), "target_environment_id": str(staging.id)}
    back = {"source_environment_id": str(staging.id), "target_environment_id": str(dev.id)}
    last = client.post(
        "/api/v1/pipelines",
        headers=tenant.admin,
        json={"name": "advances nowhere", "stages": [stage | {"auto_advance": True}]},
    )
    assert last.status_code == 400 and last.json["error"] == "invalid_stages"
    pipe = client.post(
        "/api/v1/pipelines",
        headers=tenant.admin,
        json={"name": "there and back", "stages": [stage | {"auto_advance": True}, back]},
    )
    assert pipe.status_code == 201, pipe.json
    assert [s["auto_advance"] for s in pipe.json["stages"]] == [True, False]
    promotion = client.post(
        "/api/v1/promotions", json=_selection(pipe.json, dev, staging, seeds), headers=tenant.admin
    )
    assert promotion.status_code == 201 and promotion.json["advanced_from_id"] is None


def test_validation_lists_every_blocking_error_at_once(
    client, factory, tenant, dev, staging, fake_n8n, second_n8n
):
    # The workflow uses a credential staging lacks; the stage allows low risk only, in a
    # window open on yesterday's weekday only; staging is unreachable.
    body = workflow("Orders")
    body["nodes"][1]["credentials"] = {"httpHeaderAuth": {"id": "c1", "name": "API key"}}
    seeds = seed(factory, tenant, dev, fake_n8n, {"Orders": body})
    set_environment(factory.app, tenant, staging.id, connection_status="unreachable")
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    yesterday = weekday[(datetime.now(UTC).weekday() - 1) % 7]
    window = {"timezone": "UTC", "weekdays": [yesterday], "start": "00:00", "end": "23:59"}
    pipe = _pipeline(
        client,
        tenant,
        dev,
        staging,
        gates={"max_allowed_risk_level": "low"},
        schedule_window=window,
    )
    second_n8n.clear_requests()

    response = client.post(
        "/api/v1/promotions/validate",
        json=_selection(pipe, dev, staging, seeds),
        headers=tenant.developer,
    )

    assert response.status_code == 200
    assert response.json["passed"] is False
    assert {e["code"] for e in response.json["errors"]} == {
        "outside_window",
        "risk_too_high",
        "credential_missing",
        "target_unhealthy",
    }
    assert response.json["workflows"][0]["status"] == "added"
    assert second_n8n.requests == []
    compare = client.post(
        "/api/v1/promotions/compare",
        json=_selection(pipe, dev, staging, seeds),
        headers=tenant.viewer,
    )
    [item] = compare.json["workflows"]
    assert item["risk_level"] == "high" and item["diff"]["summary"]["nodes_added"] == 2


def test_approval_lifecycle_never_by_the_requester(client, tenant, dev, staging, seeds):
    approvers = [str(tenant.user_ids["admin"]), str(tenant.user_ids["developer"])]
    pipe = _pipeline(
        client,
        tenant,
        dev,
        staging,
        approvals={"required": True, "approvers": approvers, "mode": "all"},
    )
    created = client.post(
        "/api/v1/promotions", json=_selection(pipe, dev, staging, seeds), headers=tenant.developer
    )
    assert created.status_code == 201 and created.json["status"] == "pending_approval"
    url = f"/api/v1/promotions/{created.json['id']}"

    own = client.post(f"{url}/approve", json={}, headers=tenant.developer)
    assert own.status_code == 403 and own.json["error"] == "own_promotion"
    early = client.post(f"{url}/execute", json={}, headers=tenant.admin)
    assert early.status_code == 409 and early.json["error"] == "approval_required"
    viewer = client.post(f"{url}/approve", json={}, headers=tenant.viewer)
    assert viewer.status_code == 403
    # "all" means every approver but the requester: the admin's approval is enough.
    approved = client.post(f"{url}/approve", json={"comment": "ok"}, headers=tenant.admin)
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    again = client.post(f"{url}/reject", json={}, headers=tenant.admin)
    assert again.status_code == 409
    decisions = client.get(f"{url}/approvals", headers=tenant.viewer).json
    assert [(d["decision"], d["comment"]) for d in decisions] == [("approved", "ok")]
    cancelled = client.post(f"{url}/cancel", headers=tenant.developer)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert client.post(f"{url}/cancel", headers=tenant.developer).status_code == 409


def test_a_rejection_rejects_and_a_newer_promotion_supersedes_a_queued_one(
    client, tenant, other_tenant, dev, staging, seeds
):
    pipe = _pipeline(client, tenant, dev, staging, approvals={"required": True})
    selection = _selection(pipe, dev, staging, seeds)
    first = client.post("/api/v1/promotions", json=selection, headers=tenant.developer).json
    second = client.post("/api/v1/promotions", json=selection, headers=tenant.developer).json

    older = client.get(f"/api/v1/promotions/{first['id']}", headers=tenant.viewer).json
    assert older["status"] == "cancelled"
    assert older["execution_result"] == {"superseded_by": second["id"]}
    rejected = client.post(
        f"/api/v1/promotions/{second['id']}/reject", json={}, headers=tenant.admin
    )
    assert rejected.json["status"] == "rejected"
    assert (
        client.get(f"/api/v1/promotions/{second['id']}", headers=other_tenant.admin).status_code
        == 404
    )


def test_a_scheduled_deployment_is_started_once_by_two_clocks(
    app, client, tenant, dev, staging, seeds
):
    pipe = _pipeline(client, tenant, dev, staging)
    promotion = client.post(
        "/api/v1/promotions", json=_selection(pipe, dev, staging, seeds), headers=tenant.developer
    ).json
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = client.post(
        f"/api/v1/promotions/{promotion['id']}/execute",
        json={"scheduled_for": later},
        headers=tenant.admin,
    )
    assert scheduled.status_code == 202 and scheduled.json["status"] == "scheduled"
    url = f"/api/v1/deployments/{scheduled.json['id']}"
    with app.app_context():
        assert deployments.start_due() == 0  # not due yet
    set_deployment(
        app, tenant, scheduled.json["id"], scheduled_for=datetime.now(UTC) - timedelta(seconds=1)
    )
    started = []

    def clock():
        with app.app_context():
            started.append(deployments.start_due())

    clocks = [threading.Thread(target=clock) for _ in range(2)]
    for c in clocks:
        c.start()
    for c in clocks:
        c.join()

    assert sorted(started) == [0, 1]
    detail = client.get(url, headers=tenant.viewer).json
    assert detail["deployment"]["status"] == "pending" and detail["deployment"]["job_id"]
    assert client.post(f"{url}/cancel", headers=tenant.admin).json["status"] == "cancelled"
    assert client.post(f"{url}/cancel", headers=tenant.admin).status_code == 409
    assert client.delete(url, headers=tenant.admin).status_code == 204
    assert client.get(url, headers=tenant.admin).status_code == 404


def test_credential_mappings_and_suggestions(
    client, factory, tenant, other_tenant, staging, second_n8n
):
    uses = workflow("Uses")
    uses["nodes"][1]["credentials"] = {"slackApi": {"id": "s1", "name": "Slack production"}}
    second_n8n.add_workflow(uses)
    factory.run_as(tenant.id, credential_inventory, staging.id)
    logical = client.post(
        "/api/v1/logical-credentials",
        headers=tenant.admin,
        json={"credential_type": "slackApi", "name": "Slack"},
    ).json
    dup = client.post(
        "/api/v1/logical-credentials",
        headers=tenant.admin,
        json={"credential_type": "slackApi", "name": "Slack"},
    )
    assert dup.status_code == 409

    hints = client.get(
        f"/api/v1/logical-credentials/suggestions?environment_id={staging.id}",
        headers=tenant.viewer,
    ).json["suggestions"]
    assert [c["n8n_credential_name"] for c in hints[0]["candidates"]] == ["Slack production"]
    mapping = client.post(
        "/api/v1/logical-credentials/mappings",
        headers=tenant.admin,
        json={
            "logical_credential_id": logical["id"],
            "environment_id": str(staging.id),
            "n8n_credential_name": "Slack production",
        },
    )
    assert mapping.status_code == 201 and mapping.json["n8n_credential_type"] == "slackApi"
    murl = f"/api/v1/logical-credentials/mappings/{mapping.json['id']}"
    changed = client.patch(murl, json={"n8n_credential_name": "Slack prod"}, headers=tenant.admin)
    assert changed.json["n8n_credential_name"] == "Slack prod"
    assert client.get(murl, headers=other_tenant.admin).status_code == 404
    assert (
        client.get(
            f"/api/v1/logical-credentials/suggestions?environment_id={staging.id}",
            headers=tenant.viewer,
        ).json["suggestions"]
        == []
    )
    assert client.delete(murl, headers=tenant.admin).status_code == 204


def test_the_free_plan_has_no_pipelines(client, factory, dev, staging):
    free = factory.tenant()
    body = {
        "name": "p",
        "stages": [
            {"source_environment_id": str(dev.id), "target_environment_id": str(staging.id)}
        ],
    }
    refused = client.post("/api/v1/pipelines", json=body, headers=free.admin)
    assert refused.status_code == 403 and refused.json["error"] == "feature_not_entitled"
