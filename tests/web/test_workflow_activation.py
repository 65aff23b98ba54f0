"""Activate / deactivate through the platform, one or in bulk, guarded by the environment
action guard (production: admins only); n8n's refusal is that workflow's result."""

from __future__ import annotations

import pytest

from tests.canonical import rows, sync_env
from tests.fake_n8n.server import sample_workflow


@pytest.fixture
def production(factory, tenant, fake_n8n):
    return factory.environment(tenant.id, fake_n8n, environment_class="production")


def test_bulk_activation_records_each_result(app, client, factory, tenant, environment, fake_n8n):
    good = fake_n8n.add_workflow(sample_workflow("Good"))["id"]
    no_trigger = sample_workflow("No trigger")
    no_trigger["nodes"] = no_trigger["nodes"][1:]
    no_trigger["connections"] = {}
    bad = fake_n8n.add_workflow(no_trigger)["id"]
    sync_env(factory, tenant, environment)
    by_n8n = rows(app, tenant, environment)
    ids = [str(by_n8n[good].id), str(by_n8n[bad].id)]
    url = f"/api/v1/environments/{environment.id}/workflows"

    response = client.post(
        f"{url}/bulk-activate", json={"workflow_ids": ids}, headers=tenant.developer
    )

    assert response.status_code == 200
    assert [(r["ok"], bool(r["error"])) for r in response.json] == [(True, False), (False, True)]
    assert fake_n8n.workflow(good)["active"] is True
    assert rows(app, tenant, environment)[good].is_active is True
    off = client.post(f"{url}/{ids[0]}/deactivate", headers=tenant.developer)
    assert off.status_code == 200 and off.json["ok"] is True
    assert fake_n8n.workflow(good)["active"] is False
    assert client.post(f"{url}/{ids[0]}/activate", headers=tenant.viewer).status_code == 403


def test_production_takes_an_admin(
    app, client, factory, tenant, other_tenant, production, fake_n8n
):
    wf = fake_n8n.add_workflow(sample_workflow("Prod"))["id"]
    sync_env(factory, tenant, production)
    row_id = rows(app, tenant, production)[wf].id
    url = f"/api/v1/environments/{production.id}/workflows/{row_id}/activate"

    refused = client.post(url, headers=tenant.developer)
    assert refused.status_code == 403 and refused.json["error"] == "action_blocked"
    assert fake_n8n.workflow(wf)["active"] is False
    assert client.post(url, headers=tenant.admin).json["ok"] is True
    assert client.post(url, headers=other_tenant.admin).status_code == 404
