"""Environments through the API: create, secrets, limits, URL safety, test, sync, delete."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from models.db import db, tenant_scope
from models.environments import Environment
from services.secrets import Keyring, new_key_entry
from tests.jobs.helpers import wait_for


def _body(fake, **fields):
    return {
        "name": f"env-{uuid.uuid4().hex[:6]}",
        "url": fake.url,
        "api_key": fake.api_key,
        "environment_class": "staging",
        **fields,
    }


def _create(client, tenant, fake, **fields):
    return client.post("/api/v1/environments", json=_body(fake, **fields), headers=tenant.admin)


def test_create_returns_the_environment_and_its_onboarding_job(client, tenant, fake_n8n):
    response = _create(client, tenant, fake_n8n, name="Production EU")
    assert response.status_code == 201
    body = response.json
    assert body["name"] == "Production EU"
    assert body["has_api_key"] is True and body["has_github_token"] is False
    assert "api_key" not in body and fake_n8n.api_key not in response.get_data(as_text=True)
    assert body["drift_handling_mode"] == "warn_only"  # the free plan's default
    assert body["connection_status"] == "unknown"
    job = body["onboarding_job"]
    assert (job["job_type"], job["status"], job["resource_id"]) == (
        "onboarding",
        "pending",
        body["id"],
    )
    types = client.get("/api/v1/environment-types", headers=tenant.viewer).json
    assert body["environment_type_id"] == next(t["id"] for t in types if t["is_default"])


def test_secrets_are_encrypted_at_rest_with_a_key_id(app, client, tenant, fake_n8n):
    env_id = _create(client, tenant, fake_n8n, github_token="ghp_secret_value").json["id"]
    with app.app_context(), tenant_scope(tenant.id):
        env = db.get(Environment, uuid.UUID(env_id))
        assert env.api_key_encrypted.startswith("v1:test-1:")
        assert fake_n8n.api_key not in env.api_key_encrypted
        assert "ghp_secret_value" not in env.github_token_encrypted


def test_duplicate_name_is_a_409(client, tenant, fake_n8n):
    assert _create(client, tenant, fake_n8n, name="dup").status_code == 201
    response = _create(client, tenant, fake_n8n, name="dup")
    assert response.status_code == 409
    assert response.json["error"] == "duplicate"
    assert client.get("/api/v1/environments", headers=tenant.viewer).headers["X-Total-Count"] == "1"


def test_the_free_plan_allows_two_environments(client, tenant, fake_n8n):
    for _ in range(2):
        assert _create(client, tenant, fake_n8n).status_code == 201
    response = _create(client, tenant, fake_n8n)
    assert response.status_code == 403
    assert response.json["error"] == "plan_limit_reached"
    assert response.json["details"]["limit"] == 2


def test_provider_is_accepted_on_create_and_validated(client, tenant, fake_n8n):
    assert _create(client, tenant, fake_n8n).json["provider"] == "n8n"  # the default
    assert _create(client, tenant, fake_n8n, provider="n8n").status_code == 201
    refused = _create(client, tenant, fake_n8n, provider="zapier")
    assert refused.status_code == 422
    assert "provider" in refused.json["details"]["fields"]["json"]


def test_conflicts_and_unsafe_urls_are_reported_before_the_plan_limit(
    client, make_app, tenant, fake_n8n
):
    names = [_create(client, tenant, fake_n8n).json["name"] for _ in range(2)]  # the free plan's
    duplicate = _create(client, tenant, fake_n8n, name=names[0])
    assert duplicate.status_code == 409 and duplicate.json["error"] == "duplicate"
    assert _create(client, tenant, fake_n8n).json["error"] == "plan_limit_reached"
    strict = make_app(allow_private_networks=False).test_client()
    unsafe = _create(strict, tenant, fake_n8n, url="http://169.254.169.254/")
    assert unsafe.status_code == 400 and unsafe.json["error"] == "unsafe_url"


def test_the_openapi_declares_nullable_environment_fields(client):
    schema = client.get("/openapi.json").json["components"]["schemas"]["Environment"]
    nullable = {name for name, prop in schema["properties"].items() if prop.get("nullable")}
    assert nullable >= {
        "n8n_version_family",
        "connection_checked_at",
        "connection_error",
        "last_heartbeat_at",
        "last_sync_at",
        "last_execution_sync_at",
        "last_credential_sync_at",
    }


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"environment_class": "qa"}, 422),
        ({"url": "ftp://example.com"}, 422),
        ({"url": "not a url"}, 422),
        ({"api_key": ""}, 422),
        ({"drift_handling_mode": "ignore"}, 422),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(client, tenant, fake_n8n, fields, status):
    response = _create(client, tenant, fake_n8n, **fields)
    assert response.status_code == status
    assert client.get("/api/v1/environments", headers=tenant.viewer).json == []


def test_private_addresses_are_refused_unless_allowed(make_app, tenant, fake_n8n):
    client = make_app(allow_private_networks=False).test_client()
    for url in (fake_n8n.url, "http://10.1.2.3:5678", "http://169.254.169.254/"):
        response = client.post(
            "/api/v1/environments", json=_body(fake_n8n, url=url), headers=tenant.admin
        )
        assert response.status_code == 400, url
        assert response.json["error"] == "unsafe_url"


def test_update_replaces_the_key_without_revealing_it(app, client, tenant, fake_n8n):
    env_id = _create(client, tenant, fake_n8n).json["id"]
    response = client.patch(
        f"/api/v1/environments/{env_id}",
        json={"api_key": "new-key", "drift_handling_mode": "manual_override"},
        headers=tenant.admin,
    )
    assert response.status_code == 200
    assert response.json["drift_handling_mode"] == "manual_override"
    assert "new-key" not in response.get_data(as_text=True)
    with app.app_context(), tenant_scope(tenant.id):
        entry = db.execute(
            text("SELECT old_value, new_value FROM audit_logs WHERE action = 'environment.update'")
        ).one()
    assert entry.old_value["drift_handling_mode"] == "warn_only"
    assert "new-key" not in str(entry)


def test_connection_test_says_what_is_wrong(client, tenant, fake_n8n):
    env_id = _create(client, tenant, fake_n8n).json["id"]
    ok = client.post(f"/api/v1/environments/{env_id}/test", headers=tenant.developer).json
    assert ok["ok"] is True and ok["status"] == "healthy" and ok["version_family"] == "1.x"
    fake_n8n.api_key = "rotated"
    bad_key = client.post(f"/api/v1/environments/{env_id}/test", headers=tenant.developer).json
    assert (bad_key["ok"], bad_key["status"]) == (False, "unauthorized")
    assert "401" in bad_key["message"]
    env = client.get(f"/api/v1/environments/{env_id}", headers=tenant.viewer).json
    assert env["connection_status"] == "unauthorized"
    fake_n8n.go_down()
    down = client.post(f"/api/v1/environments/{env_id}/test", headers=tenant.developer).json
    assert down["status"] == "unreachable"


def test_connection_test_spots_something_that_is_not_n8n(client, tenant, fake_n8n):
    env_id = _create(client, tenant, fake_n8n).json["id"]
    fake_n8n.fail_path(r"/workflows", 200, body="<html>hello</html>", content_type="text/html")
    result = client.post(f"/api/v1/environments/{env_id}/test", headers=tenant.developer).json
    assert result["status"] == "not_n8n"


def test_sync_via_the_api_runs_once_at_a_time(app, client, tenant, fake_n8n, worker):
    fake_n8n.add_workflows(30)
    worker.pause()
    env_id = _create(client, tenant, fake_n8n).json["id"]
    first = client.post(f"/api/v1/environments/{env_id}/sync", headers=tenant.developer)
    assert first.status_code == 202
    second = client.post(f"/api/v1/environments/{env_id}/sync", headers=tenant.developer)
    assert second.status_code == 409
    assert second.json["details"]["job_id"] == first.json["id"]
    worker.resume()
    job = wait_for(app, tenant.id, uuid.UUID(first.json["id"]))
    assert job.status == "completed", job.error_message
    assert job.result["workflows"] == 30
    env = client.get(f"/api/v1/environments/{env_id}", headers=tenant.viewer).json
    assert env["last_sync_at"] is not None


def test_delete_removes_the_environment_and_its_workflows(app, client, tenant, fake_n8n, factory):
    from services import sync

    fake_n8n.add_workflows(3)
    env_id = uuid.UUID(_create(client, tenant, fake_n8n).json["id"])
    factory.run_as(tenant.id, sync.sync_workflows, env_id)
    assert client.delete(f"/api/v1/environments/{env_id}", headers=tenant.admin).status_code == 204
    assert client.get(f"/api/v1/environments/{env_id}", headers=tenant.admin).status_code == 404
    with app.app_context(), tenant_scope(tenant.id):
        left = db.scalar(
            text("SELECT count(*) FROM workflow_env_map WHERE environment_id = :e"), {"e": env_id}
        )
    assert left == 0


def test_another_tenants_environment_is_a_404(client, tenant, other_tenant, fake_n8n):
    theirs = _create(client, other_tenant, fake_n8n).json["id"]
    for method, path in (
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/test"),
        ("post", "/sync"),
    ):
        response = getattr(client, method)(
            f"/api/v1/environments/{theirs}{path}", json={}, headers=tenant.admin
        )
        assert response.status_code == 404, (method, path)


def test_rotate_secrets_re_encrypts_under_the_newest_key(
    make_app, settings, tenant, fake_n8n, extra_keys
):
    old_entry = settings.encryption_keys[0]
    extra_keys.append(new_key_entry("test-2"))
    # A namespace of its own: rotation waits for the processes reporting there.
    app = make_app(
        encryption_keys=(extra_keys[0], old_entry), dramatiq_namespace=f"rotate-{uuid.uuid4()}"
    )
    client = app.test_client()
    env_id = uuid.UUID(_create(client, tenant, fake_n8n).json["id"])
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(
            text("UPDATE environments SET api_key_encrypted = :c WHERE id = :e"),
            {"c": Keyring.parse((old_entry,)).encrypt(fake_n8n.api_key), "e": env_id},
        )
        db.commit()
    result = app.test_cli_runner().invoke(args=["rotate-secrets", "--apply"])
    assert result.exit_code == 0, result.output
    with app.app_context(), tenant_scope(tenant.id):
        stored = db.scalar(select(Environment.api_key_encrypted).where(Environment.id == env_id))
    assert stored.startswith("v1:test-2:")
    ok = client.post(f"/api/v1/environments/{env_id}/test", headers=tenant.developer).json
    assert ok["ok"] is True
