"""The dashboard's tenant pages: picking and switching tenants (isolated as the API's
X-Tenant-ID), invitations (invite, reissue, revoke, join in the browser), the audit log
(filters, paging, redacted values, impersonation), and the overview's scheduled deployments."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import insert

from models.audit import AuditLog
from models.db import db, tenant_scope
from tests.conftest import JWT_SECRET
from tests.drift import on_plan
from tests.promotions import pipeline, promote, seed, workflow
from tests.web.ui.conftest import Browser, csrf_token


def jwt_for(subject: str) -> str:
    claims = {"sub": subject, "aud": "authenticated", "exp": int(time.time()) + 300}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def tenant_name(tenant) -> str:
    return f"Tenant {tenant.slug}"


@pytest.fixture
def person(factory, tenant, other_tenant, fake_n8n, second_n8n):
    """A person who is admin of ``tenant`` and viewer of ``other_tenant``, each tenant with
    an environment of its own."""
    subject = f"person-{uuid.uuid4()}"
    for each, role in ((tenant, "admin"), (other_tenant, "viewer")):
        factory.plan(each.id, "pro")
        factory.member(each.id, subject, role=role)
    envs = {
        tenant.id: factory.environment(tenant.id, fake_n8n, name="alpha-prod"),
        other_tenant.id: factory.environment(other_tenant.id, second_n8n, name="beta-prod"),
    }
    return subject, envs


def pick(browser: Browser, tenant_id) -> object:
    token = csrf_token(browser.get("/ui/sign-in/tenant").data)
    data = {"tenant_id": str(tenant_id), "csrf_token": token}
    response = browser.client.post("/ui/sign-in/tenant", data=data)
    browser.token = csrf_token(browser.get("/ui/").data)
    return response


def test_a_person_in_one_tenant_goes_straight_in(browser, factory, tenant):
    factory.plan(tenant.id, "pro")
    subject = f"solo-{uuid.uuid4()}"
    factory.member(tenant.id, subject, role="viewer")
    response = browser.sign_in(jwt_for(subject))
    assert response.status_code == 303 and response.location == "/ui/"
    page = browser.get("/ui/").data.decode()
    assert tenant_name(tenant) in page
    assert 'name="tenant_id"' not in page  # no switcher with one tenant


def test_a_person_in_two_tenants_picks_one_then_switches(browser, tenant, other_tenant, person):
    subject, envs = person
    response = browser.sign_in(jwt_for(subject))
    assert response.location == "/ui/sign-in/tenant"
    choices = browser.get("/ui/sign-in/tenant").data.decode()
    assert tenant_name(tenant) in choices and tenant_name(other_tenant) in choices

    assert pick(browser, tenant.id).location == "/ui/"
    page = browser.get("/ui/").data.decode()
    assert "alpha-prod" in page and "beta-prod" not in page
    assert ">admin<" in page and 'id="tenant-switch"' in page
    alpha = f"/ui/environments/{envs[tenant.id].id}"
    assert browser.get(alpha).status_code == 200

    switched = browser.post("/ui/tenant", {"tenant_id": str(other_tenant.id)})
    assert switched.status_code == 303 and switched.location == "/ui/"
    page = browser.get("/ui/").data.decode()
    assert "beta-prod" in page and "alpha-prod" not in page
    assert ">viewer<" in page and f"Now in {tenant_name(other_tenant)}" in page
    # Every page now acts in the new tenant: the old one's objects are missing, its admin
    # powers gone.
    assert browser.get(alpha).status_code == 404
    assert b"alpha-prod" not in browser.get("/ui/environments").data
    assert browser.get("/ui/audit").status_code == 403
    beta = f"/ui/environments/{envs[other_tenant.id].id}"
    assert browser.get(beta).status_code == 200


def test_switching_to_a_tenant_one_is_not_in_signs_out(browser, factory, person, tenant):
    subject, _ = person
    browser.sign_in(jwt_for(subject))
    pick(browser, tenant.id)
    stranger = factory.tenant(roles=("admin",))
    refused = browser.post("/ui/tenant", {"tenant_id": str(stranger.id)})
    assert refused.status_code == 303 and refused.location.startswith("/ui/sign-in")
    assert browser.get("/ui/").status_code == 303  # the session is gone


def test_a_malformed_choice_is_a_400_not_a_sign_out(browser, person, tenant):
    subject, _ = person
    browser.sign_in(jwt_for(subject))
    pick(browser, tenant.id)
    assert browser.post("/ui/tenant", {"tenant_id": "nope"}).status_code == 303  # back, flashed
    assert b"Pick one of your tenants." in browser.get("/ui/").data


def test_a_removed_membership_takes_effect(client, browser, person, tenant, other_tenant):
    subject, _ = person
    browser.sign_in(jwt_for(subject))
    pick(browser, other_tenant.id)
    assert browser.get("/ui/").status_code == 200
    # other_tenant's admin removes the person: the open session loses the tenant at once.
    me = {"Authorization": f"Bearer {jwt_for(subject)}", "X-Tenant-ID": str(other_tenant.id)}
    membership = client.get("/api/v1/me", headers=me).json["user"]["id"]
    gone = client.post(f"/api/v1/users/{membership}/deactivate", headers=other_tenant.admin)
    assert gone.status_code == 200
    signed_out = browser.get("/ui/")
    assert signed_out.status_code == 303 and signed_out.location.startswith("/ui/sign-in")
    # Signing in again goes straight into the one tenant left.
    assert browser.sign_in(jwt_for(subject)).location == "/ui/"
    page = browser.get("/ui/").data.decode()
    assert "alpha-prod" in page and "beta-prod" not in page
    assert 'id="tenant-switch"' not in page
    # Naming the tenant anyway (a stale form) is refused, and the session stays where it is.
    refused = browser.post("/ui/tenant", {"tenant_id": str(other_tenant.id)})
    assert refused.status_code == 403
    assert b"alpha-prod" in browser.get("/ui/").data


def test_a_token_session_stays_in_its_tenant(signed_in, tenant, other_tenant):
    browser = signed_in("admin")
    page = browser.get("/ui/").data.decode()
    assert tenant_name(tenant) in page and 'id="tenant-switch"' not in page
    assert browser.post("/ui/tenant", {"tenant_id": str(tenant.id)}).location == "/ui/"
    refused = browser.post("/ui/tenant", {"tenant_id": str(other_tenant.id)})
    assert refused.location.startswith("/ui/sign-in")
    assert browser.get("/ui/").status_code == 303


def test_a_pending_pick_opens_no_page(browser, person):
    subject, _ = person
    assert browser.sign_in(jwt_for(subject)).location == "/ui/sign-in/tenant"
    assert browser.get("/ui/").status_code == 303  # no tenant picked: no page, and
    assert browser.get("/ui/sign-in/tenant").status_code == 303  # the pick is over


def test_the_picker_needs_a_verified_sign_in(browser, tenant):
    assert browser.get("/ui/sign-in/tenant").status_code == 303
    token = csrf_token(browser.get("/ui/sign-in").data)
    forced = browser.client.post(
        "/ui/sign-in/tenant", data={"tenant_id": str(tenant.id), "csrf_token": token}
    )
    assert forced.status_code == 303 and forced.location.startswith("/ui/sign-in")
    assert browser.get("/ui/").status_code == 303
    no_csrf = browser.client.post("/ui/sign-in/tenant", data={"tenant_id": str(tenant.id)})
    assert no_csrf.status_code == 400


# Invitations


INVITATION = re.compile(r'value="[^"]*/ui/join#(n8o_inv_[^"]+)"')


def invite(admin: Browser, email: str, role: str = "developer") -> str:
    response = admin.post("/ui/invitations", {"email": email, "role": role})
    assert response.status_code == 201, response.data
    assert response.headers["Cache-Control"] == "no-store"
    return INVITATION.search(response.data.decode()).group(1)


def accept(client, token: str, subject: str):
    return client.post(
        "/api/v1/invitations/accept",
        json={"token": token},
        headers={"Authorization": f"Bearer {jwt_for(subject)}"},
    )


def test_an_admin_invites_reissues_and_revokes(client, factory, signed_in, tenant):
    factory.plan(tenant.id, "pro")
    admin = signed_in("admin")
    first = invite(admin, "newcomer@people.example")
    page = admin.get("/ui/invitations").data.decode()
    assert "<td>newcomer@people.example</td>" in page and first not in page  # shown once only
    user_id = client.get("/api/v1/users?is_active=true", headers=tenant.admin).json[-1]["id"]

    reissued = admin.post(f"/ui/invitations/{user_id}/reissue")
    assert reissued.status_code == 201
    second = INVITATION.search(reissued.data.decode()).group(1)
    assert second != first
    assert accept(client, first, f"s-{uuid.uuid4()}").status_code == 404

    revoked = admin.post(f"/ui/invitations/{user_id}/revoke")
    assert revoked.status_code == 303
    page = admin.get("/ui/invitations").data.decode()
    assert "Invitation of newcomer@people.example revoked." in page
    assert "<td>newcomer@people.example</td>" not in page
    assert accept(client, second, f"s-{uuid.uuid4()}").status_code == 404
    user = client.get(f"/api/v1/users/{user_id}", headers=tenant.admin).json
    assert user["is_active"] is True  # the user stays: deactivating frees the seat
    again = admin.post(f"/ui/invitations/{user_id}/revoke")
    assert again.status_code == 303
    assert b"no pending invitation" in admin.get("/ui/invitations").data


def test_invitations_are_for_admins_only(signed_in, tenant):
    for role in ("viewer", "developer"):
        browser = signed_in(role)
        assert browser.get("/ui/invitations").status_code == 403
        assert b"/ui/invitations" not in browser.get("/ui/users").data
        forced = browser.post("/ui/invitations", {"email": "x@y.example", "role": "admin"})
        assert forced.status_code == 403
        user = tenant.user_ids["viewer"]
        assert browser.post(f"/ui/invitations/{user}/revoke").status_code == 403
    admin = signed_in("admin")
    assert b"/ui/invitations" in admin.get("/ui/users").data


def test_an_invitation_form_without_csrf_is_refused(signed_in, factory, tenant):
    factory.plan(tenant.id, "pro")
    admin = signed_in("admin")
    response = admin.client.post("/ui/invitations", data={"email": "a@b.example", "role": "viewer"})
    assert response.status_code == 400


def test_the_invitee_joins_in_the_browser(app, browser, factory, signed_in, tenant, fake_n8n):
    factory.plan(tenant.id, "pro")
    factory.environment(tenant.id, fake_n8n, name="gamma-prod")
    token = invite(signed_in("admin"), "joiner@people.example", role="developer")
    assert b'id="token"' in browser.get("/ui/join").data
    subject = f"joiner-{uuid.uuid4()}"
    form = {"csrf_token": csrf_token(browser.get("/ui/join").data)}

    with_api_token = browser.client.post(
        "/ui/join", data={**form, "token": token, "credential": tenant.tokens["viewer"]}
    )
    assert with_api_token.status_code == 401
    assert b"an API token belongs to a user already" in with_api_token.data
    wrong = browser.client.post(
        "/ui/join", data={**form, "token": "n8o_inv_nothing", "credential": jwt_for(subject)}
    )
    assert wrong.status_code == 404

    joined = browser.client.post(
        "/ui/join", data={**form, "token": token, "credential": jwt_for(subject)}
    )
    assert joined.status_code == 303 and joined.location == "/ui/"
    page = browser.get("/ui/").data.decode()
    assert "gamma-prod" in page and ">developer<" in page
    # The next sign-in with the same identity lands in that tenant.
    again = Browser(app.test_client())
    assert again.sign_in(jwt_for(subject)).location == "/ui/"
    used = browser.client.post(
        "/ui/join", data={**form, "token": token, "credential": jwt_for(f"x-{uuid.uuid4()}")}
    )
    assert used.status_code in (400, 404)


# Audit log


def add_entries(app, tenant, count: int, **values) -> None:
    rows = [
        {
            "tenant_id": tenant.id,
            "action_type": "test",
            "action": "test.bulk",
            "resource_type": "thing",
            "resource_id": str(n),
            **values,
        }
        for n in range(count)
    ]
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(insert(AuditLog), rows)
        db.commit()
        db.remove()


def test_the_audit_log_lists_filters_and_pages(app, client, signed_in, tenant, factory):
    admin = signed_in("admin")
    developer = tenant.user_ids["developer"]
    changed = client.patch(
        f"/api/v1/users/{developer}", json={"role": "viewer"}, headers=tenant.admin
    )
    assert changed.status_code == 200
    page = admin.get("/ui/audit").data.decode()
    assert "user.update" in page and f"admin@{tenant.slug}.example" in page

    only = admin.get("/ui/audit?action=user.update").data.decode()
    assert "user.update" in only and "user.create" not in only
    family = admin.get("/ui/audit?action=user").data.decode()
    assert "user.update" in family and "user.create" in family
    by_actor = admin.get(f"/ui/audit?actor_id={tenant.user_ids['admin']}").data.decode()
    assert "user.update" in by_actor and "user.create" not in by_actor  # created by the CLI
    by_object = admin.get(f"/ui/audit?resource_type=user&resource_id={developer}").data.decode()
    assert by_object.count("<code>user.") == 3  # created, invited, then changed

    today = datetime.now(UTC).date()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    assert "No entry matches." in admin.get(f"/ui/audit?since={tomorrow}").data.decode()
    assert "No entry matches." in admin.get(f"/ui/audit?until={yesterday}").data.decode()
    window = admin.get(f"/ui/audit?since={yesterday}&until={tomorrow}").data.decode()
    assert "user.update" in window
    assert admin.get("/ui/audit?since=not-a-date").status_code == 400

    add_entries(app, tenant, 60)
    first = admin.get("/ui/audit?action=test.bulk").data.decode()
    assert first.count("<code>test.bulk</code>") == 50 and 'rel="next"' in first
    second = admin.get("/ui/audit?action=test.bulk&page=2").data.decode()
    assert second.count("<code>test.bulk</code>") == 10 and 'rel="next"' not in second


def test_an_audit_entry_shows_its_values_without_secrets(client, signed_in, tenant, fake_n8n):
    body = {
        "name": "secretive",
        "url": fake_n8n.url,
        "api_key": fake_n8n.api_key,
        "environment_class": "dev",
    }
    created = client.post("/api/v1/environments", json=body, headers=tenant.admin)
    assert created.status_code in (201, 202), created.json
    admin = signed_in("admin")
    listing = admin.get("/ui/audit?action=environment.create").data.decode()
    entry = re.search(r'href="(/ui/audit/[0-9a-f-]+)"', listing).group(1)
    detail = admin.get(entry).data.decode()
    assert "secretive" in detail and "api_key_set" in detail
    for page in (listing, detail):
        assert fake_n8n.api_key not in page
    api = client.get("/api/v1/audit-logs?action=environment.create", headers=tenant.admin)
    assert fake_n8n.api_key not in api.get_data(as_text=True)
    assert api.json[0]["new_value"]["api_key_set"] is True


def test_an_impersonation_is_shown_as_such(app, signed_in, tenant):
    session_id = uuid.uuid4()
    add_entries(
        app,
        tenant,
        1,
        actor_id=tenant.user_ids["admin"],
        impersonated_user_id=tenant.user_ids["viewer"],
        impersonation_session_id=session_id,
    )
    admin = signed_in("admin")
    listing = admin.get("/ui/audit?action=test.bulk").data.decode()
    assert "impersonation" in listing
    assert f"admin@{tenant.slug}.example as viewer@{tenant.slug}.example" in listing
    entry = re.search(r'href="(/ui/audit/[0-9a-f-]+)"', listing).group(1)
    detail = admin.get(entry).data.decode()
    assert "Done during an impersonation" in detail and str(session_id) in detail


def test_the_audit_log_is_for_admins_and_isolated(app, client, signed_in, tenant, other_tenant):
    add_entries(app, other_tenant, 1, resource_id="elsewhere")
    admin = signed_in("admin")
    assert "elsewhere" not in admin.get("/ui/audit?action=test.bulk").data.decode()
    api = client.get("/api/v1/audit-logs?action=test.bulk", headers=other_tenant.admin).json
    assert admin.get(f"/ui/audit/{api[0]['id']}").status_code == 404
    assert client.get(f"/api/v1/audit-logs/{api[0]['id']}", headers=tenant.admin).status_code == 404
    for role in ("viewer", "developer"):
        browser = signed_in(role)
        assert browser.get("/ui/audit").status_code == 403
        assert b"/ui/audit" not in browser.get("/ui/").data
        assert client.get("/api/v1/audit-logs", headers=tenant.headers(role)).status_code == 403
    assert b"/ui/audit" in admin.get("/ui/").data


def test_the_audit_api_pages_and_filters(app, client, tenant):
    add_entries(app, tenant, 3)
    response = client.get("/api/v1/audit-logs?action=test&limit=2", headers=tenant.admin)
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "3" and len(response.json) == 2
    after = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = client.get(
        "/api/v1/audit-logs", query_string={"created_after": after}, headers=tenant.admin
    )
    assert later.json == []
    bad = client.get("/api/v1/audit-logs?actor_id=nope", headers=tenant.admin)
    assert bad.status_code == 422


# Overview


def test_the_overview_shows_the_deployments_scheduled_next(
    client, factory, signed_in, tenant, fake_n8n, second_n8n
):
    on_plan(factory, tenant, "pro")
    dev = factory.environment(tenant.id, fake_n8n, environment_class="dev")
    staging = factory.environment(
        tenant.id, second_n8n, name="stage-eu", environment_class="staging"
    )
    seeds = seed(factory, tenant, dev, fake_n8n, {"Orders": workflow("Orders")})
    promotion = promote(
        factory, tenant, pipeline(factory, tenant, dev, staging), dev, staging, seeds
    )
    empty = signed_in("viewer").get("/ui/").data.decode()
    assert "No deployment scheduled." in empty
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    scheduled = client.post(
        f"/api/v1/promotions/{promotion.id}/execute",
        json={"scheduled_for": later.isoformat()},
        headers=tenant.admin,
    )
    assert scheduled.status_code == 202, scheduled.json
    page = signed_in("viewer").get("/ui/").data.decode()
    panel = page[page.index('id="scheduled"') :]
    panel = panel[: panel.index("</section>")]
    assert "stage-eu" in panel and later.strftime("%Y-%m-%d %H:%M:%S") in panel
    assert "scheduled" in panel
