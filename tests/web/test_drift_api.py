"""The drift API end to end: an environment's drift status and on-demand checks (never two at
once), incidents through their lifecycle with roles (developers acknowledge, admins close),
409 on an illegal step, approvals, policies, and another tenant's objects as 404s."""

from __future__ import annotations

import uuid

import pytest

from tests.drift import approve_all, check, edit_in_n8n, on_plan, open_incident


@pytest.fixture
def prod(factory, tenant, fake_n8n):
    on_plan(factory, tenant, "enterprise")
    return factory.environment(tenant.id, fake_n8n, environment_class="production")


def test_drift_status_shows_the_latest_check_and_the_active_incident(
    client, factory, tenant, prod, fake_n8n
):
    client.post(
        "/api/v1/drift-policies", json={"auto_create_incidents": True}, headers=tenant.admin
    )
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 1))
    edit_in_n8n(fake_n8n, ids[0], lambda b: b["settings"].update(timezone="UTC"))
    result = check(factory, tenant, prod)

    body = client.get(f"/api/v1/environments/{prod.id}/drift", headers=tenant.viewer).json

    assert body["drift_status"] == "DRIFT_DETECTED" and "1 modified" in body["reason"]
    assert body["active_incident"]["id"] == result["incident_id"]
    assert body["latest_check"]["modified"] == 1
    shown = client.get(f"/api/v1/environments/{prod.id}", headers=tenant.viewer).json
    assert shown["drift_status"] == "DRIFT_DETECTED"
    assert shown["active_drift_incident_id"] == result["incident_id"]
    checks = client.get(f"/api/v1/environments/{prod.id}/drift-checks", headers=tenant.viewer)
    assert checks.headers["X-Total-Count"] == "1" and checks.json[0]["drift_found"] is True


def test_an_on_demand_check_is_a_job_and_never_overlaps(client, tenant, prod):
    url = f"/api/v1/environments/{prod.id}/drift-checks"
    assert client.post(url, headers=tenant.viewer).status_code == 403
    first = client.post(url, headers=tenant.developer)
    assert first.status_code == 202 and first.json["job_type"] == "drift_check"
    second = client.post(url, headers=tenant.developer)
    assert second.status_code == 409


def test_incident_lifecycle_over_the_api_with_roles_and_409s(client, factory, tenant, prod):
    incident = open_incident(factory, tenant, prod)
    base = f"/api/v1/incidents/{incident.id}"

    stabilize = client.post(f"{base}/stabilize", json={}, headers=tenant.developer)
    assert stabilize.status_code == 409 and stabilize.json["error"] == "illegal_transition"
    ack = client.post(
        f"{base}/acknowledge",
        json={"reason": "on it", "ticket_ref": "OPS-7"},
        headers=tenant.developer,
    )
    assert ack.status_code == 200 and ack.json["status"] == "acknowledged"
    assert ack.json["owner_user_id"] == str(tenant.user_ids["developer"])
    assert (
        client.post(f"{base}/close", json={"reason": "x"}, headers=tenant.developer).status_code
        == 403
    )
    closed = client.post(
        f"{base}/close",
        json={"reason": "false alarm", "resolution_type": "acknowledge"},
        headers=tenant.admin,
    )
    assert closed.status_code == 200 and closed.json["status"] == "closed"
    again = client.post(f"{base}/acknowledge", json={}, headers=tenant.admin)
    assert again.status_code == 409

    timeline = client.get(f"{base}/timeline", headers=tenant.viewer).json
    assert [e["event_type"] for e in timeline] == ["created", "acknowledged", "closed"]
    assert timeline[1]["ticket_ref"] == "OPS-7" and timeline[1]["actor_id"]
    listed = client.get(
        "/api/v1/incidents", query_string={"active": "false"}, headers=tenant.viewer
    )
    assert [i["id"] for i in listed.json] == [str(incident.id)]


def test_approvals_over_the_api(client, factory, tenant, prod):
    incident = open_incident(factory, tenant, prod)
    requested = client.post(
        "/api/v1/drift-approvals",
        json={"incident_id": str(incident.id), "approval_type": "acknowledge",
              "request_reason": "please"},
        headers=tenant.developer,
    )  # fmt: skip
    assert requested.status_code == 201 and requested.json["status"] == "pending"
    url = f"/api/v1/drift-approvals/{requested.json['id']}"
    assert client.post(f"{url}/approve", json={}, headers=tenant.developer).status_code == 403
    approved = client.post(f"{url}/approve", json={"notes": "ok"}, headers=tenant.admin)
    assert approved.status_code == 200 and approved.json["executed_at"]
    assert client.post(f"{url}/reject", json={}, headers=tenant.admin).status_code == 409
    body = client.get(f"/api/v1/incidents/{incident.id}", headers=tenant.viewer).json
    assert body["status"] == "acknowledged" and body["drift_snapshot"] is not None


def test_another_tenants_incident_and_approval_are_404s(
    client, factory, tenant, other_tenant, prod
):
    incident = open_incident(factory, tenant, prod)
    for url in (f"/api/v1/incidents/{incident.id}", f"/api/v1/incidents/{uuid.uuid4()}"):
        assert client.get(url, headers=other_tenant.admin).status_code == 404
    theirs = client.post(
        f"/api/v1/incidents/{incident.id}/acknowledge", json={}, headers=other_tenant.admin
    )
    assert theirs.status_code == 404
    drift = client.get(f"/api/v1/environments/{prod.id}/drift", headers=other_tenant.admin)
    assert drift.status_code == 404


def test_policies_are_validated_and_one_per_scope(client, tenant, prod):
    bad = client.post(
        "/api/v1/drift-policies", json={"check_interval_minutes": 0}, headers=tenant.admin
    )
    assert bad.status_code == 422
    made = client.post(
        "/api/v1/drift-policies",
        json={"environment_id": str(prod.id), "check_interval_minutes": 15},
        headers=tenant.admin,
    )
    assert made.status_code == 201 and made.json["check_interval_minutes"] == 15
    twice = client.post(
        "/api/v1/drift-policies", json={"environment_id": str(prod.id)}, headers=tenant.admin
    )
    assert twice.status_code == 409


def test_a_person_opens_an_incident_from_the_latest_check_once(
    client, factory, tenant, prod, fake_n8n
):
    ids = list(approve_all(factory, tenant, prod, fake_n8n, 2))
    edit_in_n8n(fake_n8n, ids[0], lambda b: b.update(name="Renamed"))
    check(factory, tenant, prod)  # no policy: drift recorded, no incident

    made = client.post(
        "/api/v1/incidents",
        json={"environment_id": str(prod.id), "reason": "seen on the dashboard"},
        headers=tenant.developer,
    )

    assert made.status_code == 201 and made.json["detected_by"] == str(tenant.user_ids["developer"])
    assert [w["n8n_workflow_id"] for w in made.json["affected_workflows"]] == [ids[0]]
    again = client.post(
        "/api/v1/incidents", json={"environment_id": str(prod.id)}, headers=tenant.developer
    )
    assert again.status_code == 409


def test_an_override_over_the_api_lets_the_gate_pass(client, factory, tenant, prod):
    incident = open_incident(factory, tenant, prod)
    given = client.post(
        f"/api/v1/incidents/{incident.id}/overrides",
        json={"reason": "hotfix approved by the CAB", "ticket_ref": "CAB-1"},
        headers=tenant.admin,
    )
    assert given.status_code == 201 and given.json["kind"] == "attestation"
    gate = client.get(f"/api/v1/environments/{prod.id}/drift-gate", headers=tenant.viewer).json
    assert gate["blocked"] is False and gate["override"]["id"] == given.json["id"]
    listed = client.get(f"/api/v1/incidents/{incident.id}/overrides", headers=tenant.viewer)
    assert [o["id"] for o in listed.json] == [given.json["id"]]
    withdrawn = client.delete(
        f"/api/v1/incidents/{incident.id}/overrides/{given.json['id']}", headers=tenant.admin
    )
    assert withdrawn.status_code == 200
    gate = client.get(f"/api/v1/environments/{prod.id}/drift-gate", headers=tenant.viewer).json
    assert gate["blocked"] is True
