"""The environment action guard: system.md §4.8 and §4.1 as one table, one function, refusals
that say the class, the action and the rule; policy flags per tenant."""

from __future__ import annotations

import pytest

from services import policy
from services.errors import PolicyBlocked
from services.identity import Principal
from tests.canonical import audit_actions

A, W, B = "allowed", "warning", "blocked"
#: action: (dev, staging, production), from system.md §4.8 and §4.1.
EXPECTED = {
    "refresh": (A, A, A),
    "diff": (A, A, A),
    "backup": (A, B, B),
    "manual_snapshot": (A, B, B),
    "deploy_outbound": (A, A, B),
    "deploy_inbound": (B, A, A),
    "restore": (B, A, A),
    "edit_in_n8n": (A, B, B),
    "link": (A, A, W),
    "create_canonical": (A, B, B),
    "snapshot_only": (A, A, A),
    "ignore": (A, A, A),
    "unignore": (A, A, A),
    "unlink": (A, W, B),
    # system.md §4.2 row 17: the running version becomes the approved one; DEV is its own truth.
    "keep_hotfix": (B, A, A),
    # system.md §2 row 19: activate / deactivate through the platform.
    "activate": (A, A, A),
}
ADMIN_ONLY = {
    ("deploy_inbound", "production"),
    ("restore", "production"),
    ("keep_hotfix", "staging"),
    ("keep_hotfix", "production"),
    ("activate", "production"),
}
CLASSES = ("dev", "staging", "production")


class _Env:
    def __init__(self, env_class: str) -> None:
        self.id = None
        self.environment_class = env_class


def _principal(tenant, role: str) -> Principal:
    return Principal(tenant.user_ids[role], tenant.id, role)


def test_the_table_covers_every_action(app):
    assert set(EXPECTED) == set(policy.ACTIONS)


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_the_guard_follows_the_spec_table(factory, tenant, action):
    for env_class, expected in zip(CLASSES, EXPECTED[action], strict=True):
        admin_only = (action, env_class) in ADMIN_ONLY
        for role in ("developer", "admin"):
            decision = factory.run_as(
                tenant.id, policy.guard, _Env(env_class), action, _principal(tenant, role)
            )
            allowed = expected != B and not (admin_only and role != "admin")
            assert decision.allowed is allowed, (action, env_class, role)
            assert bool(decision.warnings) is (expected == W and allowed)
            assert decision.rule


def test_a_refusal_names_the_class_the_action_and_the_rule(factory, tenant):
    with pytest.raises(PolicyBlocked) as refused:
        factory.run_as(
            tenant.id, policy.enforce, _Env("production"), "unlink", _principal(tenant, "admin")
        )
    error = refused.value
    assert error.status == 403 and error.code == "action_blocked"
    assert error.details["environment_class"] == "production"
    assert error.details["action"] == "unlink"
    assert "drift" in error.details["rule"]


def test_production_inbound_takes_an_admin(factory, tenant):
    with pytest.raises(PolicyBlocked) as refused:
        factory.run_as(
            tenant.id, policy.enforce, _Env("production"), "deploy_inbound",
            _principal(tenant, "developer"),
        )  # fmt: skip
    assert refused.value.details["required_role"] == "admin"
    # A job acting for a user whose role was checked when it started: class rules only.
    decision = factory.run_as(tenant.id, policy.guard, _Env("production"), "deploy_inbound", None)
    assert decision.allowed


def test_an_unknown_action_is_refused(factory, tenant):
    decision = factory.run_as(
        tenant.id, policy.guard, _Env("dev"), "drop_everything", _principal(tenant, "admin")
    )
    assert not decision.allowed


def test_a_policy_flag_is_per_tenant_and_audited(app, client, factory, tenant, other_tenant):
    url = "/api/v1/workflow-policy/dev/restore"
    assert client.put(url, json={"enabled": True}, headers=tenant.developer).status_code == 403
    answer = client.put(url, json={"enabled": True}, headers=tenant.admin)
    assert answer.status_code == 200, answer.json
    assert answer.json["policy"] == "allowed" and answer.json["default_policy"] == "blocked"
    assert factory.run_as(tenant.id, policy.guard, _Env("dev"), "restore", None).allowed
    assert not factory.run_as(other_tenant.id, policy.guard, _Env("dev"), "restore", None).allowed
    off = client.put(url, json={"enabled": False}, headers=tenant.admin)
    assert off.json["policy"] == "blocked"
    fixed = client.put(
        "/api/v1/workflow-policy/production/unlink", json={"enabled": True}, headers=tenant.admin
    )
    assert fixed.status_code == 400 and fixed.json["error"] == "policy_not_configurable"
    unknown = client.put(
        "/api/v1/workflow-policy/qa/restore", json={"enabled": True}, headers=tenant.admin
    )
    assert unknown.status_code == 404
    assert audit_actions(app, tenant, "workflow_policy.") == [
        ("workflow_policy.update", {"policy": "blocked"}, {"policy": "allowed"}),
        ("workflow_policy.update", {"policy": "allowed"}, {"policy": "blocked"}),
    ]


def test_the_matrix_and_an_environments_capabilities_are_readable(client, tenant, environment):
    matrix = client.get("/api/v1/workflow-policy", headers=tenant.viewer)
    assert matrix.status_code == 200
    assert len(matrix.json) == len(policy.ACTIONS) * 3
    caps = client.get(
        f"/api/v1/workflow-policy/environments/{environment.id}", headers=tenant.developer
    )
    assert caps.status_code == 200
    by_action = {d["action"]: d for d in caps.json}
    assert by_action["create_canonical"]["allowed"] is True  # a dev environment
    assert by_action["deploy_inbound"]["allowed"] is False
    assert "never a deployment target" in by_action["deploy_inbound"]["reason"]
