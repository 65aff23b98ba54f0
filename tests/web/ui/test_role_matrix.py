"""Every dashboard route declares one of the API's permissions and answers each role as the
API would: 403 below the minimum role, anything but 401/403 from it on."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.drift import on_plan
from web.auth import PERMISSIONS

ROLE_RANK = {"viewer": 1, "developer": 2, "admin": 3}
#: Routes open without a session (signing in) or serving files.
PUBLIC = {
    "ui_session.sign_in",
    "ui_session.sign_in_post",
    "ui_session.pick_tenant",
    "ui_session.pick_tenant_post",
    "ui_session.sign_out",
    "ui_join.join",
    "ui_join.join_post",
}


def dashboard_routes(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/ui/") or rule.endpoint.startswith("ui_assets."):
            continue
        if rule.endpoint in PUBLIC:
            continue
        view = app.view_functions[rule.endpoint]
        doc = getattr(view, "_apidoc", {}).get("manual_doc", {})
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            yield rule, method, doc.get("x-permission")


def concrete(rule) -> str:
    return re.sub(r"<[^>]+>", lambda _m: str(uuid.uuid4()), rule.rule)


def test_every_dashboard_route_declares_a_permission(app):
    routes = list(dashboard_routes(app))
    assert len(routes) >= 30
    for rule, method, action in routes:
        assert action in PERMISSIONS, f"{method} {rule.rule} declares no permission"


def test_dashboard_role_matrix(app, signed_in, client, factory, tenant):
    on_plan(factory, tenant, "pro")  # entitled: a 403 can only be the role's
    browsers = {role: signed_in(role) for role in ROLE_RANK}
    for rule, method, action in dashboard_routes(app):
        if rule.rule.endswith("/stream"):
            continue  # an open stream; tests/services/test_live.py covers it
        url, minimum = concrete(rule), PERMISSIONS[action]
        signed_out = client.open(url, method=method)
        assert signed_out.status_code in (303, 400), f"{method} {url} without a session"
        for role, browser in browsers.items():
            if method == "GET":
                status = browser.get(url).status_code
            else:
                status = browser.post(url).status_code
            if ROLE_RANK[role] < ROLE_RANK[minimum]:
                assert status == 403, f"{role} {method} {rule.rule}: {status}"
            else:
                assert status not in (401, 403), f"{role} {method} {rule.rule}: {status}"


#: The promotion pages and the API permission each needs (the API's for the same action).
PROMOTION_PAGES = {
    "ui_pipelines.pipeline_list": "pipelines:read",
    "ui_pipelines.detail": "pipelines:read",
    "ui_pipelines.new": "pipelines:write",
    "ui_pipelines.create": "pipelines:write",
    "ui_pipelines.edit": "pipelines:write",
    "ui_pipelines.update": "pipelines:write",
    "ui_pipelines.activate": "pipelines:write",
    "ui_pipelines.deactivate": "pipelines:write",
    "ui_pipelines.delete": "pipelines:write",
    "ui_promotions.promotion_list": "promotions:read",
    "ui_promotions.compose": "promotions:read",
    "ui_promotions.create": "promotions:request",
    "ui_promotions.detail": "promotions:read",
    "ui_promotions.diff": "promotions:read",
    "ui_promotions.approve": "promotions:approve",
    "ui_promotions.reject": "promotions:approve",
    "ui_promotions.cancel": "promotions:request",
    "ui_promotions.execute": "promotions:execute",
    "ui_promotions.rollback": "promotions:execute",
    "ui_deployments.deployment_list": "deployments:read",
    "ui_deployments.detail": "deployments:read",
    "ui_deployments.cancel": "deployments:manage",
    "ui_deployments.delete": "deployments:manage",
    "ui_credential_mappings.mapping_list": "credential_mappings:read",
    "ui_credential_mappings.logical_create": "credential_mappings:write",
    "ui_credential_mappings.logical_update": "credential_mappings:write",
    "ui_credential_mappings.logical_delete": "credential_mappings:write",
    "ui_credential_mappings.mapping_create": "credential_mappings:write",
    "ui_credential_mappings.mapping_update": "credential_mappings:write",
    "ui_credential_mappings.mapping_delete": "credential_mappings:write",
}


@pytest.mark.parametrize("endpoint", sorted(PROMOTION_PAGES))
def test_promotion_pages_need_the_api_s_permission(app, endpoint):
    view = app.view_functions[endpoint]
    assert view._apidoc["manual_doc"]["x-permission"] == PROMOTION_PAGES[endpoint]


def test_every_promotion_page_is_in_the_table(app):
    prefixes = ("ui_pipelines.", "ui_promotions.", "ui_deployments.", "ui_credential_mappings.")
    found = {e for e in app.view_functions if e.startswith(prefixes)}
    assert found == set(PROMOTION_PAGES)


def test_the_workflow_and_drift_pages_are_in_the_matrix(app):
    covered = {(rule.endpoint, action) for rule, _, action in dashboard_routes(app)}
    for endpoint, action in [
        ("ui_canonical.matrix", "canonical:read"),
        ("ui_canonical.detail", "canonical:read"),
        ("ui_drift.incident_list", "drift:read"),
        ("ui_drift.incident_detail", "drift:read"),
        ("ui_drift.incident_acknowledge", "drift:acknowledge"),
        ("ui_drift.incident_stabilize", "drift:acknowledge"),
        ("ui_drift.incident_reconcile", "drift:manage"),
        ("ui_drift.incident_close", "drift:manage"),
        ("ui_drift.extend_ttl", "drift:manage"),
        ("ui_drift.incident_revert", "drift:resolve"),
        ("ui_drift.incident_keep_hotfix", "drift:resolve"),
        ("ui_drift.approval_request", "drift:request_approval"),
        ("ui_drift.approval_approve", "drift:approve"),
        ("ui_drift.approval_reject", "drift:approve"),
        ("ui_drift.approval_cancel", "drift:request_approval"),
        ("ui_drift.override_give", "drift:override"),
        ("ui_drift.override_revoke", "drift:override"),
        ("ui_drift_policies.policy_list", "drift_policies:read"),
        ("ui_drift_policies.policy_create", "drift_policies:write"),
        ("ui_drift_policies.policy_update", "drift_policies:write"),
        ("ui_drift_policies.policy_delete", "drift_policies:write"),
    ]:
        assert (endpoint, action) in covered, endpoint
