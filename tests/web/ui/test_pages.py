"""Dashboard pages: each renders from the API's services, shows only what the role allows,
refuses a forced request like the API does, and keeps tenants apart."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.jobs.helpers import read_job, start_job


@pytest.fixture
def env(factory, tenant, fake_n8n):
    return factory.environment(tenant.id, fake_n8n, name="staging-eu")


def page_urls(env_id, job_id) -> list[str]:
    return [
        "/ui/",
        "/ui/environments",
        f"/ui/environments/{env_id}",
        f"/ui/environments/{env_id}/workflows",
        f"/ui/environments/{env_id}/executions?status=error",
        f"/ui/environments/{env_id}/credentials",
        f"/ui/environments/{env_id}/git",
        "/ui/jobs?status=pending&job_type=noop",
        f"/ui/jobs/{job_id}",
        "/ui/events?event_prefix=drift.",
        "/ui/users",
        "/ui/tokens",
        "/ui/ignore-rules",
        "/ui/environment-types",
        "/ui/workflow-policy",
    ]


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_every_page_renders_for_every_role(app, signed_in, tenant, env, role):
    job_id = start_job(app, tenant.id, params={"steps": 2})
    browser = signed_in(role)
    for url in page_urls(env.id, job_id):
        response = browser.get(url)
        assert response.status_code == 200, url
        assert b"<main" in response.data and b"staging-eu" in browser.get("/ui/").data


def test_the_viewer_sees_no_admin_buttons_and_forcing_them_is_403(app, signed_in, tenant, env):
    job_id = start_job(app, tenant.id)
    viewer, admin = signed_in("viewer"), signed_in("admin")
    detail = f"/ui/environments/{env.id}"
    assert b'data-action="environments:sync"' in admin.get(detail).data
    assert b'data-action="jobs:cancel"' in admin.get(f"/ui/jobs/{job_id}").data
    assert b"Add a user" in admin.get("/ui/users").data
    for url, marker in [
        (detail, b'data-action="environments:sync"'),
        (f"/ui/jobs/{job_id}", b'data-action="jobs:cancel"'),
        ("/ui/users", b"Add a user"),
        ("/ui/environments", b"Connect an n8n instance"),
    ]:
        assert marker not in viewer.get(url).data, url
    for url in [
        f"{detail}/sync",
        f"{detail}/test",
        f"/ui/jobs/{job_id}/cancel",
        "/ui/invitations",
        "/ui/ignore-rules",
        f"{detail}/git",
        "/ui/environment-types",
        "/ui/workflow-policy/dev/delete",
    ]:
        assert viewer.post(url, {"email": "x@example.com", "role": "admin"}).status_code == 403
    assert viewer.get("/ui/environments/new").status_code == 403
    assert read_job(app, tenant.id, job_id).status == "pending"


def test_another_tenants_objects_are_404_like_missing_ones(app, signed_in, other_tenant, factory):
    from tests.fake_n8n import FakeN8n

    with FakeN8n() as fake:
        theirs = factory.environment(other_tenant.id, fake)
    their_job = start_job(app, other_tenant.id)
    admin = signed_in("admin")
    for theirs_url, missing_url, message in [
        (
            f"/ui/environments/{theirs.id}",
            f"/ui/environments/{uuid.uuid4()}",
            b"No such environment",
        ),
        (f"/ui/jobs/{their_job}", f"/ui/jobs/{uuid.uuid4()}", b"No such job"),
    ]:
        for url in (theirs_url, missing_url):
            response = admin.get(url)
            assert response.status_code == 404 and message in response.data, url
    assert admin.post(f"/ui/jobs/{their_job}/cancel").status_code == 404
    assert read_job(app, other_tenant.id, their_job).status == "pending"


def test_connecting_an_environment_from_the_form(signed_in, fake_n8n):
    admin = signed_in("admin")
    form = {
        "name": "prod-eu",
        "url": fake_n8n.url,
        "api_key": fake_n8n.api_key,
        "environment_class": "production",
    }
    response = admin.post("/ui/environments", form)
    assert response.status_code == 303
    page = admin.get(response.location)
    assert b"prod-eu" in page.data and b"Connected; its first sync is under way." in page.data
    assert fake_n8n.api_key.encode() not in page.data
    assert b"onboarding" in page.data  # its job, listed with a progress bar


def test_a_bad_form_changes_nothing_and_says_why(signed_in):
    admin = signed_in("admin")
    form = {"name": "x", "url": "not a url", "api_key": "k", "environment_class": "dev"}
    response = admin.post("/ui/environments", form, headers={"Referer": "/ui/environments/new"})
    assert response.status_code == 303
    page = admin.get("/ui/environments/new")
    assert b"Not saved: url:" in page.data
    assert b"No environment yet" in admin.get("/ui/environments").data


def test_cancel_and_rerun_follow_the_job_core(app, signed_in, tenant):
    job_id = start_job(app, tenant.id)
    developer = signed_in("developer")
    response = developer.post(f"/ui/jobs/{job_id}/cancel")
    assert response.status_code == 303
    assert read_job(app, tenant.id, job_id).status == "cancelled"
    again = developer.post(f"/ui/jobs/{job_id}/cancel", headers={"Referer": f"/ui/jobs/{job_id}"})
    assert again.status_code == 303
    assert b"flash error" in developer.get(f"/ui/jobs/{job_id}").data
    rerun = developer.post(f"/ui/jobs/{job_id}/rerun")
    new_id = uuid.UUID(rerun.location.rsplit("/", 1)[1])
    assert read_job(app, tenant.id, new_id).rerun_of_id == job_id


def test_a_token_is_shown_once_and_can_be_revoked(signed_in):
    viewer = signed_in("viewer")
    issued = viewer.post("/ui/tokens", {"name": "laptop"})
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    secret = re.search(rb'class="wrap secret">(n8o_pat_[^<]+)<', issued.data).group(1)
    listed = viewer.get("/ui/tokens").data
    assert b"laptop" in listed and secret not in listed
    token_id = re.search(rb"/ui/tokens/([0-9a-f-]{36})/revoke", listed).group(1).decode()
    assert viewer.post(f"/ui/tokens/{token_id}/revoke").status_code == 303
    assert b"revoked" in viewer.get("/ui/tokens").data


def test_admins_manage_users_and_ignore_rules(signed_in, tenant):
    admin = signed_in("admin")
    developer = tenant.user_ids["developer"]
    assert admin.post(f"/ui/users/{developer}", {"role": "viewer"}).status_code == 303
    assert b"Saved developer@" in admin.get("/ui/users").data
    added = admin.post("/ui/ignore-rules", {"rule": "$.nodes[*].position", "description": "moves"})
    assert added.status_code == 303
    assert b"$.nodes[*].position" in admin.get("/ui/ignore-rules").data


def test_unknown_filters_are_a_400_page_not_a_500(signed_in):
    viewer = signed_in("viewer")
    assert viewer.get("/ui/jobs?status=exploded").status_code == 400
    assert viewer.get("/ui/jobs?page=abc").status_code == 200
    assert viewer.get("/ui/nothing-here").status_code == 404


def test_admins_add_environment_types_and_switch_policy_flags(signed_in, client, tenant):
    admin = signed_in("admin")
    assert admin.post("/ui/environment-types", {"name": "QA"}).status_code == 303
    assert b"QA" in admin.get("/ui/environment-types").data
    rules = client.get("/api/v1/workflow-policy", headers=tenant.admin).json
    flag = next(r for r in rules if r["tenant_configurable"] and r["policy"] != "allowed")
    url = f"/ui/workflow-policy/{flag['environment_class']}/{flag['action']}"
    assert admin.post(url, {"enabled": "true"}).status_code == 303
    after = client.get("/api/v1/workflow-policy", headers=tenant.admin).json
    assert (
        next(
            r["policy"]
            for r in after
            if (r["environment_class"], r["action"]) == (flag["environment_class"], flag["action"])
        )
        == "allowed"
    )
    fixed = next(r for r in rules if not r["tenant_configurable"])
    refused = admin.post(
        f"/ui/workflow-policy/{fixed['environment_class']}/{fixed['action']}",
        {"enabled": "true"},
        headers={"Referer": "/ui/workflow-policy"},
    )
    assert refused.status_code == 303
    assert b"is fixed" in admin.get("/ui/workflow-policy").data


def test_the_pages_stream_uses_the_session(app, signed_in, tenant, client):
    job_id = start_job(app, tenant.id)
    viewer = signed_in("viewer")
    response = viewer.client.get(f"/ui/jobs/{job_id}/stream", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    body = b"".join(next(iter(response.response)) for _ in range(2))
    assert f'"id":"{job_id}"'.encode() in body and b'"status":"pending"' in body
    response.close()
    assert client.get("/ui/stream").status_code == 303  # no session: sign in first
