"""Drift incidents in the dashboard: the list and its filters, an incident's page with the
lifecycle steps its status allows (an illegal one refused with a clear message), the TTL
countdown, approvals decided by someone else, revert / keep hotfix, and roles: a viewer
sees no action and gets 403 when forcing one."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.drift import set_environment, set_incident
from tests.web.ui.worlds import drifted, with_incident
from web.ui.drift import ttl_text


@pytest.fixture
def world(factory, tenant, fake_n8n):
    return drifted(factory, tenant, fake_n8n, name="prod-eu", environment_class="production")


@pytest.fixture
def incident(factory, tenant, world):
    return with_incident(factory, tenant, world)


def status_of(client, tenant, incident) -> str:
    return client.get(f"/api/v1/incidents/{incident.id}", headers=tenant.viewer).json["status"]


def test_the_list_filters_by_status_and_environment(signed_in, incident, world):
    viewer = signed_in("viewer")
    html = viewer.get("/ui/incidents").data.decode()
    assert f"/ui/incidents/{incident.id}" in html and "prod-eu" in html
    assert (
        f"/ui/incidents/{incident.id}"
        in viewer.get(
            f"/ui/incidents?status=detected&environment_id={world.env.id}&active=true"
        ).data.decode()
    )
    for query in ("status=closed", f"environment_id={uuid.uuid4()}", "active=false"):
        assert "No incident matches." in viewer.get(f"/ui/incidents?{query}").data.decode()
    assert viewer.get("/ui/incidents?status=exploded").status_code == 400


def test_the_viewer_reads_the_incident_but_has_no_action(signed_in, incident, world):
    viewer, developer = signed_in("viewer"), signed_in("developer")
    html = viewer.get(f"/ui/incidents/{incident.id}").data.decode()
    assert "data-action=" not in html and "Your role can look but not act" in html
    assert re.search(r"<time class=\"ttl\" data-countdown [^>]*>\d+ d \d+ h left</time>", html)
    assert f"left=git:{world.env.id}" in html  # the drifted workflow's Git vs running diff
    paths = (
        "acknowledge",
        "close",
        "revert",
        "keep-hotfix",
        "extend-ttl",
        "approvals",
        "overrides",
    )
    for path in paths:
        response = viewer.post(f"/ui/incidents/{incident.id}/{path}", {"reason": "x"})
        assert response.status_code == 403, path
    assert developer.post(f"/ui/drift-approvals/{uuid.uuid4()}/approve").status_code == 403
    revoke = f"/ui/incidents/{incident.id}/overrides/{uuid.uuid4()}/revoke"
    assert developer.post(revoke).status_code == 403


def test_steps_follow_the_state_machine_and_a_409_says_why(client, signed_in, tenant, incident):
    developer, admin = signed_in("developer"), signed_in("admin")
    page = f"/ui/incidents/{incident.id}"
    html = developer.get(page).data.decode()
    assert 'data-step="acknowledge"' in html and 'data-step="stabilize"' not in html
    assert 'data-step="close"' not in html  # closing is an admin's
    assert 'data-step="close"' in admin.get(page).data.decode()

    forced = developer.post(f"{page}/stabilize", {}, headers={"Referer": page})
    assert forced.status_code == 303 and forced.location.endswith(page)
    shown = developer.get(page).data.decode()
    assert "An incident cannot go from detected to stabilized" in shown
    assert status_of(client, tenant, incident) == "detected"

    acked = developer.post(f"{page}/acknowledge", {"reason": "on it", "ticket_ref": "OPS-9"})
    assert acked.status_code == 303
    html = developer.get(page).data.decode()
    assert "Acknowledge: now acknowledged." in html and "OPS-9" in html
    assert 'data-step="stabilize"' in html and 'data-step="acknowledge"' not in html

    closed = admin.post(f"{page}/close", {"reason": "hotfix kept", "resolution_type": "promote"})
    assert closed.status_code == 303 and status_of(client, tenant, incident) == "closed"
    html = admin.get(page).data.decode()
    assert "Next steps" not in html and "data-step=" not in html
    timeline = re.findall(r"<strong>(\w+)</strong>", html)
    assert timeline == ["created", "acknowledged", "closed"]


def test_a_bad_form_is_refused_with_its_reason(client, signed_in, tenant, incident):
    admin = signed_in("admin")
    page = f"/ui/incidents/{incident.id}"
    response = admin.post(f"{page}/close", {"reason": "x"}, headers={"Referer": page})
    assert response.status_code == 303
    assert "Closing an incident that was not reconciled needs a resolution_type" in (
        admin.get(page).data.decode()
    )
    too_long = admin.post(f"{page}/extend-ttl", {"hours": "100000"}, headers={"Referer": page})
    assert too_long.status_code == 303 and "Not saved: hours" in admin.get(page).data.decode()
    assert status_of(client, tenant, incident) == "detected"


def test_the_ttl_is_extended_and_the_countdown_follows(app, client, signed_in, tenant, incident):
    from datetime import UTC, datetime, timedelta

    admin = signed_in("admin")
    page = f"/ui/incidents/{incident.id}"
    # By default extending needs an approved request: the page offers to ask for one.
    html = admin.get(page).data.decode()
    assert "Request a longer TTL" in html and 'data-step="extend-ttl"' not in html
    client.post(
        "/api/v1/drift-policies",
        json={"require_approval_for_extend_ttl": False},
        headers=tenant.admin,
    )
    set_incident(app, tenant, incident.id, expires_at=datetime.now(UTC) - timedelta(hours=2))
    assert 'data-expired="true">expired 2 h' in admin.get(page).data.decode()
    assert admin.post(f"{page}/extend-ttl", {"hours": "5", "reason": "weekend"}).status_code == 303
    html = admin.get(page).data.decode()
    assert "TTL extended." in html and 'data-expired="false">4 h 59 min left' in html


def test_ttl_text_counts_days_hours_and_minutes():
    assert ttl_text(2 * 86400 + 3 * 3600 + 59) == "2 d 3 h left"
    assert ttl_text(3 * 3600 + 12 * 60) == "3 h 12 min left"
    assert ttl_text(45 * 60) == "45 min left"
    assert ttl_text(-(2 * 3600 + 60)) == "expired 2 h 1 min ago"
    assert ttl_text(0) == "expired 0 min ago"


def test_an_approval_is_requested_then_decided_by_someone_else(client, signed_in, tenant, incident):
    client.post(
        "/api/v1/drift-policies",
        json={"require_approval_for_acknowledge": True},
        headers=tenant.admin,
    )
    developer, admin = signed_in("developer"), signed_in("admin")
    page = f"/ui/incidents/{incident.id}"
    html = developer.get(page).data.decode()
    assert "Request approval to acknowledge" in html and 'data-step="acknowledge"' not in html
    asked = developer.post(
        f"{page}/approvals",
        {"approval_type": "acknowledge", "request_reason": "mine now", "ticket_ref": "OPS-1"},
    )
    assert asked.status_code == 303
    html = developer.get(page).data.decode()
    assert "Approval requested." in html and "mine now" in html
    assert 'data-action="drift:approve"' not in html  # a developer does not decide
    approval = re.search(r'data-approval="([0-9a-f-]{36})"', html).group(1)
    again = developer.post(
        f"{page}/approvals",
        {"approval_type": "acknowledge", "request_reason": "again"},
        headers={"Referer": page},
    )
    assert again.status_code == 303
    assert "pending acknowledge request already" in developer.get(page).data.decode()

    assert 'data-action="drift:approve"' in admin.get(page).data.decode()
    decided = admin.post(f"/ui/drift-approvals/{approval}/approve", {"notes": "ok"})
    assert decided.status_code == 303 and decided.location.endswith(page)
    assert "Request approved." in admin.get(page).data.decode()
    assert status_of(client, tenant, incident) == "acknowledged"
    body = client.get(f"/api/v1/incidents/{incident.id}", headers=tenant.viewer).json
    assert body["ticket_ref"] == "OPS-1"


def test_nobody_decides_their_own_request_and_the_requester_withdraws(
    client, signed_in, tenant, incident
):
    admin = signed_in("admin")
    page = f"/ui/incidents/{incident.id}"
    ask = {"approval_type": "extend_ttl", "request_reason": "weekend", "ttl_extension_hours": "48"}
    admin.post(f"{page}/approvals", ask)
    html = admin.get(page).data.decode()
    approval = re.search(r'data-approval="([0-9a-f-]{36})"', html).group(1)
    assert "(48 h)" in html and 'data-action="drift:approve"' not in html  # own request
    forced = admin.post(f"/ui/drift-approvals/{approval}/approve", {}, headers={"Referer": page})
    assert (
        forced.status_code == 403 and "Nobody may decide their own request" in forced.data.decode()
    )
    assert admin.post(f"/ui/drift-approvals/{approval}/cancel").status_code == 303
    assert ">cancelled<" in admin.get(page).data.decode()


def test_revert_and_keep_hotfix_start_their_job(client, signed_in, tenant, incident):
    admin = signed_in("admin")
    page = f"/ui/incidents/{incident.id}"
    html = admin.get(page).data.decode()
    assert "Revert to Git" in html and "Keep hotfix" in html
    started = admin.post(f"{page}/revert")
    assert started.status_code == 303 and "/ui/jobs/" in started.location
    job = client.get(
        f"/api/v1/jobs/{started.location.rsplit('/', 1)[1]}", headers=tenant.viewer
    ).json
    assert job["job_type"] == "drift_revert" and job["resource_id"] == str(incident.id)
    second = admin.post(f"{page}/keep-hotfix", headers={"Referer": page})
    assert second.status_code == 303  # one resolution per environment at a time: 409
    assert "flash error" in admin.get(page).data.decode()


def test_another_tenants_incident_is_a_404_like_a_missing_one(
    signed_in, factory, other_tenant, incident
):
    from tests.fake_n8n import FakeN8n

    with FakeN8n() as fake:
        theirs = with_incident(factory, other_tenant, drifted(factory, other_tenant, fake))
    admin = signed_in("admin")
    for incident_id in (theirs.id, uuid.uuid4()):
        assert admin.get(f"/ui/incidents/{incident_id}").status_code == 404
        assert admin.post(f"/ui/incidents/{incident_id}/acknowledge").status_code == 404
    assert f"/ui/incidents/{theirs.id}" not in admin.get("/ui/incidents").data.decode()


def test_admins_add_change_and_delete_drift_policies(client, signed_in, factory, tenant, world):
    from tests.drift import on_plan

    admin, viewer = signed_in("admin"), signed_in("viewer")
    refused = admin.post("/ui/drift-policies", {"environment_id": ""})
    assert refused.status_code == 303  # not in the plan: said on the page, not a 500 or 403
    assert "not part of your plan" in admin.get("/ui/drift-policies").data.decode()
    on_plan(factory, tenant, "enterprise")
    html = admin.get("/ui/drift-policies").data.decode()
    assert "No policy yet" in html and '<option value="">The whole tenant</option>' in html
    added = admin.post(
        "/ui/drift-policies",
        {"environment_id": "", "ttl_high": "12", "require_approval_for_acknowledge": "true"},
    )
    assert added.status_code == 303
    [policy] = client.get("/api/v1/drift-policies", headers=tenant.viewer).json
    assert policy["environment_id"] is None and policy["severity_ttls"] == {"high": 12}
    assert policy["require_approval_for_acknowledge"] is True

    html = viewer.get("/ui/drift-policies").data.decode()
    assert 'data-action="drift_policies:write"' not in html and "disabled" in html
    assert viewer.post(f"/ui/drift-policies/{policy['id']}", {}).status_code == 403

    saved = admin.post(
        f"/ui/drift-policies/{policy['id']}",
        {"require_approval_for_acknowledge": "false", "check_interval_minutes": "30"},
    )
    assert saved.status_code == 303
    after = client.get(f"/api/v1/drift-policies/{policy['id']}", headers=tenant.viewer).json
    assert after["require_approval_for_acknowledge"] is False
    assert after["check_interval_minutes"] == 30
    bad = admin.post(
        f"/ui/drift-policies/{policy['id']}",
        {"check_interval_minutes": "0"},
        headers={"Referer": "/ui/drift-policies"},
    )
    assert bad.status_code == 303
    assert "Not saved: check_interval_minutes" in admin.get("/ui/drift-policies").data.decode()
    assert admin.post(f"/ui/drift-policies/{policy['id']}/delete").status_code == 303
    assert client.get("/api/v1/drift-policies", headers=tenant.viewer).json == []


def overrides_of(client, tenant, incident) -> list[dict]:
    return client.get(f"/api/v1/incidents/{incident.id}/overrides", headers=tenant.viewer).json


def test_an_admin_gives_an_override_and_withdraws_it(client, signed_in, tenant, incident):
    developer, admin = signed_in("developer"), signed_in("admin")
    page = f"/ui/incidents/{incident.id}"
    html = developer.get(page).data.decode()
    assert "No override given." in html and 'data-action="drift:override"' not in html
    assert developer.post(f"{page}/overrides", {"reason": "mine"}).status_code == 403
    assert 'data-action="drift:override"' in admin.get(page).data.decode()

    bad = admin.post(
        f"{page}/overrides", {"reason": "x", "valid_hours": "0"}, headers={"Referer": page}
    )
    assert bad.status_code == 303 and "Not saved: valid_hours" in admin.get(page).data.decode()
    given = admin.post(f"{page}/overrides", {"reason": "customer launch", "valid_hours": "12"})
    assert given.status_code == 303 and given.location.endswith(page)
    html = admin.get(page).data.decode()
    assert "Override recorded." in html and "customer launch" in html and "s-in_force" in html
    [override] = overrides_of(client, tenant, incident)
    assert override["kind"] == "override" and override["expires_at"] is not None
    assert f'data-override="{override["id"]}"' in html

    withdrawn = admin.post(f"{page}/overrides/{override['id']}/revoke")
    assert withdrawn.status_code == 303 and withdrawn.location.endswith(page)
    html = admin.get(page).data.decode()
    assert "Override withdrawn." in html and "s-revoked" in html
    again = admin.post(f"{page}/overrides/{override['id']}/revoke", headers={"Referer": page})
    assert again.status_code == 303 and "revoked already" in admin.get(page).data.decode()
    assert "<strong>override</strong>" in html  # the timeline has both


def test_an_attestation_needs_a_ticket_where_the_environment_requires_one(
    app, client, signed_in, tenant, incident, world
):
    set_environment(app, tenant, world.env.id, drift_handling_mode="require_attestation")
    admin = signed_in("admin")
    page = f"/ui/incidents/{incident.id}"
    html = admin.get(page).data.decode()
    assert "requires an attestation" in html
    assert re.search(
        r'<input id="override-ticket" name="ticket_ref" maxlength="200" required>', html
    )
    refused = admin.post(f"{page}/overrides", {"reason": "launch"}, headers={"Referer": page})
    assert refused.status_code == 303
    assert "requires an attestation" in admin.get(page).data.decode()
    assert overrides_of(client, tenant, incident) == []
    admin.post(f"{page}/overrides", {"reason": "launch", "ticket_ref": "CHG-42"})
    assert "Attestation recorded." in admin.get(page).data.decode()
    [attestation] = overrides_of(client, tenant, incident)
    assert attestation["kind"] == "attestation" and attestation["ticket_ref"] == "CHG-42"
    assert attestation["expires_at"] is None


def test_a_closed_incident_takes_no_override(client, signed_in, tenant, incident):
    admin = signed_in("admin")
    page = f"/ui/incidents/{incident.id}"
    admin.post(f"{page}/close", {"reason": "done", "resolution_type": "promote"})
    assert 'action="/ui/incidents/' + str(incident.id) + '/overrides"' not in (
        admin.get(page).data.decode()
    )
    forced = admin.post(f"{page}/overrides", {"reason": "late"}, headers={"Referer": page})
    assert forced.status_code == 303
    assert "closed: nothing to override" in admin.get(page).data.decode()


def test_the_policy_form_sets_every_field_the_api_accepts(client, signed_in, factory, tenant):
    from models.drift import HOTFIX_KEEP_BEHAVIORS, SEVERITIES
    from services.drift.policies import DEFAULTS
    from tests.drift import on_plan
    from web.api.drift_policies import DriftPolicyUpdateSchema

    on_plan(factory, tenant, "enterprise")
    admin = signed_in("admin")
    accepted = {n for n, f in DriftPolicyUpdateSchema().fields.items() if not f.dump_only}
    html = admin.get("/ui/drift-policies").data.decode()
    shown = set(re.findall(r'name="([a-z_]+)"', html))
    assert {f"ttl_{s}" for s in SEVERITIES} <= shown
    assert accepted - {"severity_ttls"} <= shown, accepted - shown
    assert (
        'id="new-check_interval_minutes" name="check_interval_minutes" type="number" min="1"'
        in html
    )

    admin.post("/ui/drift-policies", {"environment_id": ""})
    [policy] = client.get("/api/v1/drift-policies", headers=tenant.viewer).json
    wanted = {
        name: (not default if isinstance(default, bool) else default + 1)
        for name, default in DEFAULTS.items()
        if name not in ("severity_ttls", "prod_hotfix_keep_behavior")
    }
    wanted["prod_hotfix_keep_behavior"] = next(
        b for b in HOTFIX_KEEP_BEHAVIORS if b != DEFAULTS["prod_hotfix_keep_behavior"]
    )
    ttls = {s: 10 + n for n, s in enumerate(SEVERITIES)}
    form = {k: str(v).lower() for k, v in wanted.items()} | {
        f"ttl_{s}": str(h) for s, h in ttls.items()
    }
    assert admin.post(f"/ui/drift-policies/{policy['id']}", form).status_code == 303
    saved = client.get(f"/api/v1/drift-policies/{policy['id']}", headers=tenant.viewer).json
    assert {k: saved[k] for k in wanted} == wanted and saved["severity_ttls"] == ttls
    assert set(wanted) | {"severity_ttls"} == accepted
    html = admin.get("/ui/drift-policies").data.decode()
    assert 'name="check_interval_minutes" type="number" min="1" max="' in html
    assert f'value="{wanted["check_interval_minutes"]}"' in html


def test_the_overview_links_each_open_incident(signed_in, incident):
    html = signed_in("viewer").get("/ui/").data.decode()
    assert f'href="/ui/incidents/{incident.id}"' in html and "No open incident." not in html
