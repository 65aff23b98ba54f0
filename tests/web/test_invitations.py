"""Identity bound by its owner: invitations, memberships in several tenants, member limits."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
from sqlalchemy import select, update

from models.audit import AuditLog
from models.db import db, tenant_scope
from models.tenancy import UserInvitation
from tests.conftest import JWT_SECRET


def _bearer(sub: str) -> dict[str, str]:
    claims = {"sub": sub, "aud": "authenticated", "exp": int(time.time()) + 300}
    return {"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET, algorithm='HS256')}"}


def _invite(client, tenant, email="new@person.example", role="developer"):
    response = client.post(
        "/api/v1/users", json={"email": email, "role": role}, headers=tenant.admin
    )
    assert response.status_code == 201, response.json
    return response.json


def _accept(client, token, sub, **headers):
    return client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers={**_bearer(sub), **headers}
    )


def test_an_admin_cannot_set_a_subject_on_a_user(client, tenant):
    body = {"email": "x@y.example", "role": "viewer", "supabase_auth_id": "victim-subject"}
    response = client.post("/api/v1/users", json=body, headers=tenant.admin)
    assert response.status_code == 422
    assert "supabase_auth_id" in response.json["details"]["fields"]["json"]
    patched = client.patch(
        f"/api/v1/users/{tenant.user_ids['viewer']}",
        json={"supabase_auth_id": "victim-subject"},
        headers=tenant.admin,
    )
    assert patched.status_code == 422
    assert client.get("/api/v1/users", headers=tenant.admin).headers["X-Total-Count"] == "3"


def test_the_invitee_accepts_with_their_own_jwt_once(app, client, factory, tenant):
    factory.plan(tenant.id, "pro")
    sub = f"person-{uuid.uuid4()}"
    assert client.get("/api/v1/me", headers=_bearer(sub)).status_code == 401
    invited = _invite(client, tenant)
    assert invited["supabase_auth_id"] is None
    token = invited["invitation"]["token"]
    accepted = _accept(client, token, sub)
    assert accepted.status_code == 200
    assert accepted.json["user"]["id"] == invited["id"]
    assert accepted.json["tenant"]["id"] == str(tenant.id)
    me = client.get("/api/v1/me", headers=_bearer(sub))
    assert me.status_code == 200
    assert me.json["user"]["id"] == invited["id"]
    assert me.json["user"]["role"] == "developer"
    with app.app_context(), tenant_scope(tenant.id):
        entry = db.scalar(select(AuditLog).where(AuditLog.action == "user.accept_invitation"))
        assert entry.actor_id == uuid.UUID(invited["id"])
        assert entry.ip_address is not None
    thief = f"thief-{uuid.uuid4()}"
    assert _accept(client, token, thief).status_code == 404
    assert client.get("/api/v1/me", headers=_bearer(thief)).status_code == 401
    assert (
        "invitation" not in client.get(f"/api/v1/users/{invited['id']}", headers=tenant.admin).json
    )


def test_expired_unknown_and_replaced_invitations_are_the_same_404(app, client, factory, tenant):
    factory.plan(tenant.id, "pro")
    first = _invite(client, tenant)
    reissued = client.post(f"/api/v1/users/{first['id']}/invitation", headers=tenant.admin)
    assert reissued.status_code == 201
    expired = _invite(client, tenant, email="late@person.example")
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(
            update(UserInvitation)
            .where(UserInvitation.user_id == uuid.UUID(expired["id"]))
            .values(expires_at=UserInvitation.created_at)
        )
        db.commit()
    missing = _accept(client, "n8o_inv_nothing", "someone")
    for token in (first["invitation"]["token"], expired["invitation"]["token"]):
        response = _accept(client, token, f"s-{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.json == missing.json
    assert _accept(client, reissued.json["invitation"]["token"], "fresh").status_code == 200
    bound = client.post(f"/api/v1/users/{first['id']}/invitation", headers=tenant.admin)
    assert bound.status_code == 409
    assert bound.json["error"] == "already_bound"


def test_an_api_token_cannot_accept_an_invitation(client, factory, tenant):
    factory.plan(tenant.id, "pro")
    token = _invite(client, tenant)["invitation"]["token"]
    response = client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=tenant.viewer
    )
    assert response.status_code == 401
    assert response.json["error"] == "jwt_required"


def test_one_person_in_two_tenants_names_the_tenant_per_request(
    client, factory, tenant, other_tenant
):
    sub = f"agency-{uuid.uuid4()}"
    for each, role in ((tenant, "admin"), (other_tenant, "viewer")):
        factory.plan(each.id, "pro")
        factory.member(each.id, sub, role=role)
    ambiguous = client.get("/api/v1/me", headers=_bearer(sub))
    assert ambiguous.status_code == 401
    assert ambiguous.json["error"] == "tenant_required"
    assert set(ambiguous.json["details"]["tenants"]) == {str(tenant.id), str(other_tenant.id)}
    for each, role in ((tenant, "admin"), (other_tenant, "viewer")):
        me = client.get("/api/v1/me", headers={**_bearer(sub), "X-Tenant-ID": str(each.id)})
        assert me.status_code == 200
        assert me.json["tenant"]["id"] == str(each.id)
        assert me.json["user"]["role"] == role
    stranger = factory.tenant(roles=("admin",))
    for named in (str(stranger.id), "not-a-uuid"):
        refused = client.get("/api/v1/me", headers={**_bearer(sub), "X-Tenant-ID": named})
        assert refused.status_code == 401
        assert refused.json["error"] == "no_membership"


def test_a_subject_used_elsewhere_changes_no_answer(client, factory, tenant, other_tenant):
    """Inviting, listing and accepting look the same whether the subject exists elsewhere."""
    sub = f"known-{uuid.uuid4()}"
    factory.plan(other_tenant.id, "pro")
    factory.member(other_tenant.id, sub)
    factory.plan(tenant.id, "pro")
    invited = _invite(client, tenant)
    accepted = _accept(client, invited["invitation"]["token"], sub)
    assert accepted.status_code == 200
    assert accepted.json["tenant"]["id"] == str(tenant.id)


def test_a_personal_token_may_only_name_its_own_tenant(client, tenant, other_tenant):
    own = client.get("/api/v1/me", headers={**tenant.viewer, "X-Tenant-ID": str(tenant.id)})
    assert own.status_code == 200
    other = client.get("/api/v1/me", headers={**tenant.viewer, "X-Tenant-ID": str(other_tenant.id)})
    assert other.status_code == 401


def test_the_member_limit_holds_on_invite_and_reactivate(client, factory, tenant):
    """Free plan: 3 members (plan data), the tenant fixture already has them."""
    refused = client.post(
        "/api/v1/users", json={"email": "fourth@x.example", "role": "viewer"}, headers=tenant.admin
    )
    assert refused.status_code == 403
    assert refused.json["error"] == "plan_limit_reached"
    assert refused.json["details"]["limit"] == 3
    viewer = tenant.user_ids["viewer"]
    client.post(f"/api/v1/users/{viewer}/deactivate", headers=tenant.admin)
    _invite(client, tenant, email="fourth@x.example")
    back = client.patch(f"/api/v1/users/{viewer}", json={"is_active": True}, headers=tenant.admin)
    assert back.status_code == 403
    assert back.json["error"] == "plan_limit_reached"
    factory.plan(tenant.id, "pro")
    back = client.patch(f"/api/v1/users/{viewer}", json={"is_active": True}, headers=tenant.admin)
    assert back.status_code == 200


def test_parallel_invites_cannot_pass_the_limit_together(app, factory):
    tenant = factory.tenant(roles=("admin",))

    def invite(n):
        with app.test_client() as client:
            body = {"email": f"p{n}@race.example", "role": "viewer"}
            return client.post("/api/v1/users", json=body, headers=tenant.admin).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(invite, range(6)))
    assert statuses == [201, 201, 403, 403, 403, 403]


def test_an_admin_revokes_a_pending_invitation(client, factory, tenant):
    factory.plan(tenant.id, "pro")
    invited = _invite(client, tenant)
    url = f"/api/v1/users/{invited['id']}/invitation"
    assert client.delete(url, headers=tenant.developer).status_code == 403
    revoked = client.delete(url, headers=tenant.admin)
    assert revoked.status_code == 200 and revoked.json["is_active"] is True
    assert _accept(client, invited["invitation"]["token"], "late-subject").status_code == 404
    again = client.delete(url, headers=tenant.admin)
    assert again.status_code == 409 and again.json["error"] == "no_invitation"
    joined = _invite(client, tenant, email="joined@person.example")
    assert _accept(client, joined["invitation"]["token"], f"s-{uuid.uuid4()}").status_code == 200
    bound = client.delete(f"/api/v1/users/{joined['id']}/invitation", headers=tenant.admin)
    assert bound.status_code == 409 and bound.json["error"] == "already_bound"
