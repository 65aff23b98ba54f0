"""Tenant users through the API: invite, list, change role, deactivate, audit."""

from __future__ import annotations

from sqlalchemy import select

from models.audit import AuditLog
from models.db import db, tenant_scope


def test_admin_invites_a_user_who_then_appears_in_the_list(client, factory, tenant):
    factory.plan(tenant.id, "pro")
    created = client.post(
        "/api/v1/users",
        json={"email": "New.Person@Example.com", "role": "developer", "name": "New Person"},
        headers=tenant.admin,
    )
    assert created.status_code == 201
    assert created.json["email"] == "new.person@example.com"
    assert created.json["is_active"] is True
    listed = client.get("/api/v1/users?role=developer", headers=tenant.viewer)
    assert listed.status_code == 200
    assert {u["email"] for u in listed.json} == {
        f"developer@{tenant.slug}.example",
        "new.person@example.com",
    }
    assert listed.headers["X-Total-Count"] == "2"


def test_duplicate_email_is_a_409_and_changes_nothing(client, tenant):
    body = {"email": f"viewer@{tenant.slug}.example", "role": "admin"}
    response = client.post("/api/v1/users", json=body, headers=tenant.admin)
    assert response.status_code == 409
    assert response.json["error"] == "duplicate"
    assert client.get("/api/v1/users", headers=tenant.admin).headers["X-Total-Count"] == "3"


def test_invalid_body_is_a_422_with_field_errors(client, tenant):
    response = client.post(
        "/api/v1/users", json={"email": "not-an-email", "role": "owner"}, headers=tenant.admin
    )
    assert response.status_code == 422
    assert set(response.json["details"]["fields"]["json"]) == {"email", "role"}


def test_pagination_pages_and_links(client, factory, tenant):
    factory.plan(tenant.id, "pro")
    for n in range(4):
        client.post(
            "/api/v1/users",
            json={"email": f"p{n}@x.example", "role": "viewer"},
            headers=tenant.admin,
        )
    first = client.get("/api/v1/users?limit=3", headers=tenant.admin)
    second = client.get("/api/v1/users?limit=3&page=3", headers=tenant.admin)
    assert first.headers["X-Total-Count"] == "7"
    assert len(first.json) == 3
    assert 'rel="next"' in first.headers["Link"]
    assert len(second.json) == 1
    assert 'rel="next"' not in second.headers["Link"]
    assert client.get("/api/v1/users?limit=500", headers=tenant.admin).status_code == 422


def test_role_change_is_audited_with_old_and_new_values(app, client, tenant):
    viewer = tenant.user_ids["viewer"]
    response = client.patch(
        f"/api/v1/users/{viewer}", json={"role": "developer"}, headers=tenant.admin
    )
    assert response.status_code == 200
    assert response.json["role"] == "developer"
    with app.app_context(), tenant_scope(tenant.id):
        entry = db.scalar(
            select(AuditLog).where(
                AuditLog.action == "user.update", AuditLog.resource_id == str(viewer)
            )
        )
        assert entry.old_value["role"] == "viewer"
        assert entry.new_value["role"] == "developer"
        assert entry.actor_id == tenant.user_ids["admin"]


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(client, tenant):
    admin = tenant.user_ids["admin"]
    demote = client.patch(f"/api/v1/users/{admin}", json={"role": "viewer"}, headers=tenant.admin)
    deactivate = client.post(f"/api/v1/users/{admin}/deactivate", headers=tenant.admin)
    assert demote.status_code == deactivate.status_code == 409
    assert demote.json["error"] == "last_admin"
    me = client.get("/api/v1/me", headers=tenant.admin).json
    assert me["user"]["role"] == "admin"


def test_an_admin_can_step_down_when_another_admin_exists(client, tenant):
    developer = tenant.user_ids["developer"]
    client.patch(f"/api/v1/users/{developer}", json={"role": "admin"}, headers=tenant.admin)
    admin = tenant.user_ids["admin"]
    response = client.patch(f"/api/v1/users/{admin}", json={"role": "viewer"}, headers=tenant.admin)
    assert response.status_code == 200
    invite = {"email": "late@x.example", "role": "viewer"}
    assert client.post("/api/v1/users", json=invite, headers=tenant.admin).status_code == 403
