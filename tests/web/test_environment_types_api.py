"""Environment types: every tenant starts with one default; admins add, rename, re-default."""

from __future__ import annotations


def _types(client, tenant):
    return client.get("/api/v1/environment-types", headers=tenant.viewer).json


def test_a_new_tenant_has_one_default_type(client, tenant):
    [only] = _types(client, tenant)
    assert (only["slug"], only["is_default"]) == ("standard", True)


def test_making_another_type_the_default_moves_the_flag(client, tenant):
    created = client.post(
        "/api/v1/environment-types",
        json={"name": "QA Lab", "is_default": True},
        headers=tenant.admin,
    )
    assert created.status_code == 201
    assert created.json["slug"] == "qa-lab"
    defaults = [t["slug"] for t in _types(client, tenant) if t["is_default"]]
    assert defaults == ["qa-lab"]


def test_duplicate_slug_is_a_409(client, tenant):
    body = {"name": "Standard"}
    response = client.post("/api/v1/environment-types", json=body, headers=tenant.admin)
    assert response.status_code == 409
    assert len(_types(client, tenant)) == 1


def test_the_default_type_cannot_be_deleted_or_undefaulted(client, tenant):
    [default] = _types(client, tenant)
    url = f"/api/v1/environment-types/{default['id']}"
    assert client.delete(url, headers=tenant.admin).status_code == 409
    assert client.patch(url, json={"is_default": False}, headers=tenant.admin).status_code == 409
    renamed = client.patch(url, json={"name": "Core"}, headers=tenant.admin)
    assert renamed.status_code == 200 and renamed.json["name"] == "Core"


def test_deleting_a_type_keeps_its_environments(client, tenant, fake_n8n):
    qa = client.post("/api/v1/environment-types", json={"name": "QA"}, headers=tenant.admin).json
    env = client.post(
        "/api/v1/environments",
        json={
            "name": "qa-1",
            "url": fake_n8n.url,
            "api_key": fake_n8n.api_key,
            "environment_class": "staging",
            "environment_type_id": qa["id"],
        },
        headers=tenant.admin,
    ).json
    assert env["environment_type_id"] == qa["id"]
    assert (
        client.delete(f"/api/v1/environment-types/{qa['id']}", headers=tenant.admin).status_code
        == 204
    )
    after = client.get(f"/api/v1/environments/{env['id']}", headers=tenant.viewer).json
    assert after["environment_type_id"] is None


def test_an_unknown_type_is_refused_on_create(client, tenant, other_tenant, fake_n8n):
    [theirs] = _types(client, other_tenant)
    response = client.post(
        "/api/v1/environments",
        json={
            "name": "x",
            "url": fake_n8n.url,
            "api_key": fake_n8n.api_key,
            "environment_class": "dev",
            "environment_type_id": theirs["id"],
        },
        headers=tenant.admin,
    )
    assert response.status_code == 400
    assert response.json["error"] == "unknown_environment_type"
