"""The environment drift API: the drift gate as promotions see it, for every role, and another
tenant's environment as a 404."""

from __future__ import annotations

import uuid

import pytest

from tests.drift import on_plan, open_incident


@pytest.fixture
def prod(factory, tenant, fake_n8n):
    on_plan(factory, tenant, "agency")
    return factory.environment(tenant.id, fake_n8n, environment_class="production")


def test_the_gate_says_blocked_and_why(client, factory, tenant, prod):
    open_incident(factory, tenant, prod)

    response = client.get(f"/api/v1/environments/{prod.id}/drift-gate", headers=tenant.viewer)

    assert response.status_code == 200
    body = response.json
    # agency environments default to manual_override (spec Decision 1).
    assert body["blocked"] is True and body["mode"] == "manual_override"
    assert body["incident_id"] and body["expired"] is False and body["override"] is None
    assert body["reasons"] and "manual_override" in body["reasons"][0]


def test_the_gate_of_another_tenants_environment_is_a_404(client, tenant, other_tenant, prod):
    theirs = client.get(f"/api/v1/environments/{prod.id}/drift-gate", headers=other_tenant.admin)
    missing = client.get(
        f"/api/v1/environments/{uuid.uuid4()}/drift-gate", headers=other_tenant.admin
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json == missing.json
