"""Personal tokens through the API: create once, list without secrets, revoke."""

from __future__ import annotations


def test_created_token_is_shown_once_and_works(client, tenant):
    created = client.post(
        "/api/v1/tokens",
        json={"name": "deploy bot", "expires_in_days": 30},
        headers=tenant.developer,
    )
    assert created.status_code == 201
    body = created.json
    assert body["token"].startswith(body["display_prefix"])
    assert body["expires_at"] is not None
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json["user"]["id"] == str(tenant.user_ids["developer"])
    listed = client.get("/api/v1/tokens", headers=tenant.developer).json
    assert {t["name"] for t in listed} == {"tests", "deploy bot"}
    assert all("token" not in t for t in listed)


def test_a_user_sees_and_revokes_only_their_own_tokens(client, tenant):
    admin_token = client.get("/api/v1/tokens", headers=tenant.admin).json[0]["id"]
    response = client.post(f"/api/v1/tokens/{admin_token}/revoke", headers=tenant.viewer)
    assert response.status_code == 404
    assert client.get("/api/v1/me", headers=tenant.admin).status_code == 200


def test_revoking_twice_is_a_409(client, tenant):
    token_id = client.get("/api/v1/tokens", headers=tenant.developer).json[0]["id"]
    first = client.post(f"/api/v1/tokens/{token_id}/revoke", headers=tenant.admin)
    assert first.status_code == 404  # the admin's own list does not include it
    created = client.post("/api/v1/tokens", json={"name": "tmp"}, headers=tenant.developer).json
    assert (
        client.post(f"/api/v1/tokens/{created['id']}/revoke", headers=tenant.developer).status_code
        == 200
    )
    again = client.post(f"/api/v1/tokens/{created['id']}/revoke", headers=tenant.developer)
    assert again.status_code == 409


def test_token_name_is_required_and_expiry_bounded(client, tenant):
    assert client.post("/api/v1/tokens", json={}, headers=tenant.viewer).status_code == 422
    response = client.post(
        "/api/v1/tokens", json={"name": "x", "expires_in_days": 0}, headers=tenant.viewer
    )
    assert response.status_code == 422
