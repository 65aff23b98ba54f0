"""Every operation in the OpenAPI, called without a token and with each role."""

from __future__ import annotations

import re
import uuid

import pytest

from web.auth import PERMISSIONS

ROLE_RANK = {"viewer": 1, "developer": 2, "admin": 3}

#: What each action should need; written out here so a change to the table is a decision.
EXPECTED_MINIMUM_ROLE = {
    "me:read": "viewer",
    "invitations:accept": "identity",
    "users:read": "viewer",
    "users:manage": "admin",
    "audit:read": "admin",
    "tokens:own": "viewer",
    "jobs:read": "viewer",
    "jobs:cancel": "developer",
    "jobs:rerun": "developer",
    "jobs:bulk_rerun": "admin",
    "jobs:healthcheck": "admin",
    "environments:read": "viewer",
    "environments:write": "admin",
    "environments:test": "developer",
    "environments:sync": "developer",
    "environment_types:read": "viewer",
    "environment_types:write": "admin",
    "workflows:read": "viewer",
    "workflows:manage": "developer",
    "executions:read": "viewer",
    "executions:ingest": "developer",
    "credentials:read": "viewer",
    "credentials:check": "developer",
    "events:read": "viewer",
    "git:read": "viewer",
    "git:write": "admin",
    "git:test": "developer",
    "ignore_rules:read": "viewer",
    "ignore_rules:write": "admin",
    "workflow_policy:read": "viewer",
    "workflow_policy:write": "admin",
    "drift:read": "viewer",
    "drift:check": "developer",
    "drift:acknowledge": "developer",
    "drift:request_approval": "developer",
    "drift:manage": "admin",
    "drift:approve": "admin",
    "drift:override": "admin",
    "drift:resolve": "admin",
    "drift_policies:read": "viewer",
    "drift_policies:write": "admin",
    "canonical:read": "viewer",
    "canonical:onboard": "admin",
    "canonical:sync": "developer",
    "snapshots:read": "viewer",
    "snapshots:backup": "developer",
    "snapshots:restore": "developer",
    "pipelines:read": "viewer",
    "pipelines:write": "admin",
    "promotions:read": "viewer",
    "promotions:request": "developer",
    "promotions:approve": "developer",
    "promotions:execute": "admin",
    "deployments:read": "viewer",
    "deployments:manage": "admin",
    "credential_mappings:read": "viewer",
    "credential_mappings:write": "admin",
}


def _operations(app):
    spec = app.test_client().get("/openapi.json").json
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _m: str(uuid.uuid4()), path)


def test_every_api_operation_declares_a_known_permission(app):
    operations = list(_operations(app))
    assert operations, "the OpenAPI lists no operations"
    for path, method, operation in operations:
        assert path.startswith("/api/v1/"), path
        action = operation.get("x-permission")
        assert action in PERMISSIONS, f"{method.upper()} {path} declares no permission"
        assert operation["x-minimum-role"] == PERMISSIONS[action]


def test_permission_table_matches_the_expected_roles():
    assert PERMISSIONS == EXPECTED_MINIMUM_ROLE


def test_role_matrix(app, tenant):
    client = app.test_client()
    checked = 0
    for path, method, operation in _operations(app):
        url = _concrete(path)
        call = getattr(client, method)
        assert call(url, json={}).status_code == 401, f"{method} {path} without a token"
        minimum = operation["x-minimum-role"]
        for role in ("viewer", "developer", "admin"):
            response = call(url, json={}, headers=tenant.headers(role))
            body = response.json if isinstance(response.json, dict) else {}
            status, refusal = response.status_code, body.get("error")
            if minimum == "identity":
                # Only a sign-in (JWT) is an identity; an API token already acts for a user.
                assert status == 401, f"{role} {method} {path}: {status}"
            elif ROLE_RANK[role] < ROLE_RANK[minimum]:
                assert (status, refusal) == (403, "insufficient_role"), f"{role} {method} {path}"
            else:
                # Past the role check; a plan without the feature may still refuse (403).
                assert status != 401 and refusal != "insufficient_role", f"{role} {method} {path}"
            checked += 1
    assert checked >= 3 * 8


def test_another_tenants_object_is_a_404_like_a_missing_one(client, tenant, other_tenant):
    theirs = other_tenant.user_ids["viewer"]
    response = client.get(f"/api/v1/users/{theirs}", headers=tenant.admin)
    missing = client.get(f"/api/v1/users/{uuid.uuid4()}", headers=tenant.admin)
    assert response.status_code == missing.status_code == 404
    assert response.json == missing.json
    patched = client.patch(f"/api/v1/users/{theirs}", json={"role": "viewer"}, headers=tenant.admin)
    assert patched.status_code == 404


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_only_admins_manage_users(client, tenant, role):
    response = client.post(
        "/api/v1/users",
        json={"email": "x@example.com", "role": "viewer"},
        headers=tenant.headers(role),
    )
    assert response.status_code == 403
    assert response.json["details"]["required_role"] == "admin"
