"""An environment's synced workflows through the API: filters, definition, ignore, deletion."""

from __future__ import annotations

import uuid

from services import sync
from services.n8n import N8nClient


def _synced(factory, tenant, environment):
    factory.run_as(tenant.id, sync.sync_workflows, environment.id)


def _list(client, tenant, environment, **query):
    return client.get(
        f"/api/v1/environments/{environment.id}/workflows",
        query_string=query,
        headers=tenant.viewer,
    )


def test_list_filters_by_status_active_name_and_tag(client, factory, tenant, environment, fake_n8n):
    fake_n8n.add_workflow(name="Invoices nightly", active=True, tags=["billing"])
    fake_n8n.add_workflow(name="Slack alerts", tags=["ops"])
    fake_n8n.add_workflow(name="invoice retry")
    _synced(factory, tenant, environment)
    everything = _list(client, tenant, environment)
    assert everything.headers["X-Total-Count"] == "3"
    assert [w["name"] for w in everything.json] == [
        "invoice retry",
        "Invoices nightly",
        "Slack alerts",
    ]
    assert [w["name"] for w in _list(client, tenant, environment, active="true").json] == [
        "Invoices nightly"
    ]
    assert len(_list(client, tenant, environment, name="INVOICE").json) == 2
    assert [w["name"] for w in _list(client, tenant, environment, tag="ops").json] == [
        "Slack alerts"
    ]
    assert len(_list(client, tenant, environment, status="untracked").json) == 3
    assert _list(client, tenant, environment, status="missing").json == []
    assert "definition" not in everything.json[0]


def test_one_workflow_has_its_cached_definition(client, factory, tenant, environment, fake_n8n):
    body = fake_n8n.add_workflow(name="With nodes")
    _synced(factory, tenant, environment)
    [listed] = _list(client, tenant, environment).json
    one = client.get(
        f"/api/v1/environments/{environment.id}/workflows/{listed['id']}", headers=tenant.viewer
    ).json
    assert one["n8n_workflow_id"] == body["id"]
    assert [n["name"] for n in one["definition"]["nodes"]] == [n["name"] for n in body["nodes"]]
    assert one["definition_bytes"] > 0


def test_ignore_and_unignore(client, factory, tenant, environment, fake_n8n):
    fake_n8n.add_workflow(name="Noise")
    _synced(factory, tenant, environment)
    [listed] = _list(client, tenant, environment).json
    url = f"/api/v1/environments/{environment.id}/workflows/{listed['id']}"
    ignored = client.patch(url, json={"ignored": True}, headers=tenant.developer)
    assert ignored.json["status"] == "ignored"
    _synced(factory, tenant, environment)
    assert client.get(url, headers=tenant.viewer).json["status"] == "ignored"
    back = client.patch(url, json={"ignored": False}, headers=tenant.developer)
    assert back.json["status"] == "untracked"
    assert client.patch(url, json={}, headers=tenant.developer).status_code == 422


def test_acknowledging_a_deletion(client, factory, tenant, environment, fake_n8n):
    body = fake_n8n.add_workflow(name="Doomed")
    _synced(factory, tenant, environment)
    [listed] = _list(client, tenant, environment).json
    url = f"/api/v1/environments/{environment.id}/workflows/{listed['id']}/acknowledge-deletion"
    early = client.post(url, headers=tenant.developer)
    assert early.status_code == 409
    assert early.json["error"] == "illegal_transition"
    with N8nClient(fake_n8n.url, fake_n8n.api_key, allow_private=True) as n8n:
        n8n.delete_workflow(body["id"])
    _synced(factory, tenant, environment)
    done = client.post(url, headers=tenant.developer)
    assert done.status_code == 200 and done.json["status"] == "deleted"
    _synced(factory, tenant, environment)
    assert _list(client, tenant, environment).json[0]["status"] == "deleted"


def test_workflows_of_another_tenant_are_404(client, factory, tenant, other_tenant, fake_n8n):
    theirs = factory.environment(other_tenant.id, fake_n8n)
    fake_n8n.add_workflow(name="Private")
    factory.run_as(other_tenant.id, sync.sync_workflows, theirs.id)
    assert _list(client, tenant, theirs).status_code == 404
    [their_row] = _list(client, other_tenant, theirs).json
    mine = factory.environment(tenant.id, fake_n8n)
    response = client.get(
        f"/api/v1/environments/{mine.id}/workflows/{their_row['id']}", headers=tenant.viewer
    )
    assert response.status_code == 404
    missing = client.get(
        f"/api/v1/environments/{mine.id}/workflows/{uuid.uuid4()}", headers=tenant.viewer
    )
    assert missing.status_code == 404
