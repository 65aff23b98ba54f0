"""The promotion pages: pipelines (forms validated by the API's schema, errors next to their
fields), composing a promotion (compare, gates, diffs), its lifecycle from its page, the
deployments and the credential mappings; each role sees and may do what the API allows."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from models.credentials import Credential
from models.db import db, tenant_scope
from models.promotions import LogicalCredential, Pipeline
from services.promotions import credentials
from tests.promotions import pipeline, promote, state
from tests.web.ui.conftest import Browser
from tests.web.ui.promotion_world import NAME

PROMOTION_ID = re.compile(rb"/ui/promotions/([0-9a-f-]{36})")


def stage_form(dev, staging, **fields) -> dict:
    """A pipeline form as the page posts it (hidden "false" then the checkbox's "true")."""
    return {
        "name": "dev to staging",
        "stages.0.name": "first",
        "stages.0.source_environment_id": str(dev.id),
        "stages.0.target_environment_id": str(staging.id),
        "stages.0.gates.require_clean_drift": ["false", "true"],
        "stages.0.gates.credentials_exist_in_target": "false",
        "stages.0.gates.max_allowed_risk_level": "medium",
        "stages.0.approvals.required": ["false", "true"],
        "stages.0.approvals.mode": "any",
        "stages.0.schedule_window.timezone": "UTC",
        # The form's spare row, left empty.
        "stages.1.gates.require_clean_drift": ["false", "true"],
        "stages.1.schedule_window.timezone": "UTC",
        **fields,
    }


def rows(app, tenant, query) -> list:
    """The rows of ``query`` in the tenant (detached)."""
    with app.app_context(), tenant_scope(tenant.id):
        found = list(db.scalars(query))
        db.expunge_all()
    return found


def pipelines_named(app, tenant, name: str) -> list[Pipeline]:
    return rows(app, tenant, select(Pipeline).where(Pipeline.name == name))


def test_an_admin_creates_a_pipeline_from_the_form(app, signed_in, tenant, dev, staging):
    admin = signed_in("admin")
    form = admin.get("/ui/pipelines/new")
    assert form.status_code == 200 and b'name="stages.0.source_environment_id"' in form.data
    response = admin.post("/ui/pipelines", stage_form(dev, staging), follow_redirects=True)
    assert response.status_code == 200
    assert b"Saved dev to staging." in response.data
    (saved,) = pipelines_named(app, tenant, "dev to staging")
    assert len(saved.stages) == 1  # the empty spare row is not a stage
    stage = saved.stages[0]
    assert stage["gates"]["require_clean_drift"] is True
    assert stage["gates"]["credentials_exist_in_target"] is False
    assert stage["gates"]["max_allowed_risk_level"] == "medium"
    assert stage["approvals"]["required"] is True
    assert stage["schedule_window"] is None
    page = admin.get(f"/ui/pipelines/{saved.id}").data
    assert b"first" in page and b"dev" in page and b"staging" in page
    assert b"max risk" in page and b"medium" in page


def test_an_invalid_pipeline_is_shown_again_with_each_error_by_its_field(
    app, signed_in, tenant, factory, dev, staging
):
    admin = signed_in("admin")
    bad = stage_form(
        dev,
        staging,
        **{
            "stages.0.target_environment_id": str(dev.id),
            "stages.0.schedule_window.start": "25:00",
            "stages.0.schedule_window.timezone": "Mars/Olympus",
        },
    )
    response = admin.post("/ui/pipelines", bad)
    assert response.status_code == 422
    page = response.data.decode()
    assert "The request is invalid; see the fields." in page
    assert 'id="err-stages-0-schedule_window-start"' in page and "Use HH:MM (24 h)." in page
    assert "Unknown time zone &#39;Mars/Olympus&#39;." in page
    assert 'value="25:00"' in page  # what was typed stays
    assert pipelines_named(app, tenant, "dev to staging") == []
    # A name taken: the service's 409, said on the form.
    taken = pipeline(factory, tenant, dev, staging).name
    again = admin.post("/ui/pipelines", stage_form(dev, staging, name=taken))
    assert again.status_code == 409
    assert b"A pipeline of that name exists already." in again.data


def test_edit_deactivate_and_delete_a_pipeline(app, signed_in, tenant, dev, staging, factory):
    pipe = pipeline(factory, tenant, dev, staging)
    admin = signed_in("admin")
    edit = admin.get(f"/ui/pipelines/{pipe.id}/edit").data.decode()
    assert f'value="{pipe.name}"' in edit and "Stage 1" in edit
    window = {
        "stages.0.schedule_window.start": "09:00",
        "stages.0.schedule_window.end": "17:00",
        "stages.0.schedule_window.weekdays": ["mon", "tue"],
    }
    admin.post(f"/ui/pipelines/{pipe.id}", stage_form(dev, staging, name="renamed", **window))
    (saved,) = pipelines_named(app, tenant, "renamed")
    assert saved.stages[0]["schedule_window"]["weekdays"] == ["mon", "tue"]
    admin.post(f"/ui/pipelines/{pipe.id}/deactivate")
    assert pipelines_named(app, tenant, "renamed")[0].is_active is False
    page = admin.post(f"/ui/pipelines/{pipe.id}/delete", follow_redirects=True)
    assert b"Pipeline deleted." in page.data
    assert pipelines_named(app, tenant, "renamed") == []


def test_compose_shows_the_compare_result_gates_and_diffs_then_requests_it(
    app, signed_in, tenant, seeds, pipe
):
    developer = signed_in("developer")
    picking = developer.get(f"/ui/promotions/new?pipeline_id={pipe.id}").data.decode()
    canonical = str(seeds[NAME].canonical_id)
    assert f'value="{canonical}"' in picking and "s-modified" in picking
    url = f"/ui/promotions/new?pipeline_id={pipe.id}&stage=0&canonical_ids={canonical}"
    page = developer.get(url).data.decode()
    assert "Gates" in page and "gates pass" in page
    assert "Diff of Invoice sync" in page
    assert "https://api.example/v2" in page and "https://api.example/v1" in page
    assert 'data-action="promotions:request"' in page
    created = developer.post(
        "/ui/promotions",
        {
            "pipeline_id": str(pipe.id),
            "source_environment_id": re.search(
                r'name="source_environment_id" value="([^"]+)"', page
            )[1],
            "target_environment_id": re.search(
                r'name="target_environment_id" value="([^"]+)"', page
            )[1],
            "canonical_ids": [canonical],
        },
    )
    assert created.status_code == 303
    promotion_id = PROMOTION_ID.search(created.headers["Location"].encode())[1].decode()
    promotion, _, _ = state(app, tenant, uuid.UUID(promotion_id))
    assert promotion.status == "pending_approval"
    assert (
        b"Promotion requested: pending approval." in developer.get(created.headers["Location"]).data
    )


def test_every_gate_error_and_warning_is_shown_at_once(
    app, signed_in, tenant, factory, seeds, dev, staging
):
    # No weekday: never inside the window; the lowest risk: the change is above it.
    blocked = pipeline(
        factory,
        tenant,
        dev,
        staging,
        gates={"max_allowed_risk_level": "low"},
        schedule_window={"weekdays": [], "start": "00:00", "end": "23:59"},
    )
    canonical = seeds[NAME].canonical_id
    page = signed_in("viewer").get(
        f"/ui/promotions/new?pipeline_id={blocked.id}&canonical_ids={canonical}"
    )
    text = page.data.decode()
    assert "blocked" in text and "outside_window" in text
    errors = re.findall(r'<li role="alert"><code>(\w+)</code>', text)
    assert "outside_window" in errors and len(errors) >= 1
    assert 'data-action="promotions:request"' not in text  # a viewer compares only


def test_the_requester_cannot_approve_their_own_and_sees_why(
    app, signed_in, tenant, factory, seeds, pipe, dev, staging
):
    promotion = promote(factory, tenant, pipe, dev, staging, seeds, role="developer")
    developer, admin = signed_in("developer"), signed_in("admin")
    own = developer.get(f"/ui/promotions/{promotion.id}").data.decode()
    assert "The requester cannot decide on their own promotion." in own
    assert 'data-action="promotions:approve"' not in own
    assert developer.post(f"/ui/promotions/{promotion.id}/approve").status_code == 403
    theirs = admin.get(f"/ui/promotions/{promotion.id}").data.decode()
    assert 'data-action="promotions:approve"' in theirs
    assert 'data-action="promotions:execute"' not in theirs  # not approved yet
    approved = admin.post(
        f"/ui/promotions/{promotion.id}/approve", {"comment": "looks right"}, follow_redirects=True
    )
    assert b"Decision recorded; the promotion is approved." in approved.data
    assert (
        "looks right" in approved.data.decode()
        and b'data-action="promotions:execute"' in approved.data
    )
    assert state(app, tenant, promotion.id)[0].status == "approved"


def test_reject_and_cancel_from_the_page(
    app, signed_in, tenant, factory, seeds, pipe, dev, staging
):
    first = promote(factory, tenant, pipe, dev, staging, seeds, role="developer")
    signed_in("admin").post(f"/ui/promotions/{first.id}/reject", {"comment": "not now"})
    assert state(app, tenant, first.id)[0].status == "rejected"
    second = promote(factory, tenant, pipe, dev, staging, seeds, role="developer")
    developer = signed_in("developer")
    assert b"Cancel promotion" in developer.get(f"/ui/promotions/{second.id}").data
    developer.post(f"/ui/promotions/{second.id}/cancel")
    assert state(app, tenant, second.id)[0].status == "cancelled"
    # Cancelled: nothing left to do.
    assert b"data-action" not in signed_in("admin").get(f"/ui/promotions/{second.id}").data


def test_execute_now_shows_the_deployment_s_job_to_follow_live(
    app, signed_in, tenant, factory, seeds, dev, staging
):
    promotion = promote(
        factory, tenant, pipeline(factory, tenant, dev, staging), dev, staging, seeds
    )
    admin = signed_in("admin")
    page = admin.post(
        f"/ui/promotions/{promotion.id}/execute", {"when": "now"}, follow_redirects=True
    )
    assert b"Deploying; follow it below." in page.data
    _, deployment, _ = state(app, tenant, promotion.id)
    assert deployment.job_id is not None
    text = page.data.decode()
    assert f'data-job-page="{deployment.job_id}"' in text  # the live page reloads when it ends
    assert f'<div class="progress" data-job="{deployment.job_id}"' in text
    assert 'data-action="promotions:execute"' not in text  # it has a deployment
    detail = admin.get(f"/ui/deployments/{deployment.id}").data.decode()
    assert f'data-job-page="{deployment.job_id}"' in detail
    listed = admin.get("/ui/deployments?status=pending").data.decode()
    assert f"/ui/deployments/{deployment.id}" in listed
    assert (
        f"/ui/deployments/{deployment.id}"
        not in admin.get("/ui/deployments?status=failed").data.decode()
    )


def test_schedule_in_a_time_zone_then_cancel_the_deployment(
    app, signed_in, tenant, factory, seeds, dev, staging
):
    promotion = promote(
        factory, tenant, pipeline(factory, tenant, dev, staging), dev, staging, seeds
    )
    admin = signed_in("admin")
    local = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    wrong = admin.post(
        f"/ui/promotions/{promotion.id}/execute",
        {
            "when": "later",
            "scheduled_for": local.strftime("%Y-%m-%dT%H:%M"),
            "timezone": "Nowhere/City",
        },
        follow_redirects=True,
    )
    assert b"known time zone" in wrong.data
    assert state(app, tenant, promotion.id)[1] is None
    admin.post(
        f"/ui/promotions/{promotion.id}/execute",
        {
            "when": "later",
            "scheduled_for": local.strftime("%Y-%m-%dT%H:%M"),
            "timezone": "Asia/Tokyo",
        },
    )
    _, deployment, _ = state(app, tenant, promotion.id)
    assert deployment.status == "scheduled"
    assert deployment.scheduled_for == local.replace(tzinfo=None).replace(tzinfo=UTC) - timedelta(
        hours=9
    )
    assert f'href="/ui/deployments/{deployment.id}"' in admin.get("/ui/").data.decode()
    page = admin.get(f"/ui/deployments/{deployment.id}").data
    assert b'data-action="deployments:manage"' in page
    assert (
        b'data-action="deployments:manage"'
        not in signed_in("viewer").get(f"/ui/deployments/{deployment.id}").data
    )
    assert signed_in("developer").post(f"/ui/deployments/{deployment.id}/cancel").status_code == 403
    admin.post(f"/ui/deployments/{deployment.id}/cancel")
    assert state(app, tenant, promotion.id)[1].status == "cancelled"
    assert b"Delete deployment" in admin.get(f"/ui/deployments/{deployment.id}").data
    deleted = admin.post(f"/ui/deployments/{deployment.id}/delete", follow_redirects=True)
    assert b"Deployment deleted." in deleted.data
    assert admin.get(f"/ui/deployments/{deployment.id}").status_code == 404


def test_a_blocked_execution_says_each_gate_s_error(
    app, signed_in, tenant, factory, seeds, dev, staging
):
    never = {"weekdays": [], "start": "00:00", "end": "23:59"}
    pipe = pipeline(factory, tenant, dev, staging, schedule_window=never)
    promotion = promote(factory, tenant, pipe, dev, staging, seeds)
    page = signed_in("admin").post(
        f"/ui/promotions/{promotion.id}/execute", {"when": "now"}, follow_redirects=True
    )
    text = page.data.decode()
    assert "The promotion&#39;s gates block it; nothing was changed." in text
    assert "outside the stage&#39;s window" in text
    assert state(app, tenant, promotion.id)[1] is None


def test_a_viewer_sees_no_buttons_and_forcing_them_is_403(
    app, signed_in, tenant, factory, seeds, pipe, dev, staging
):
    promotion = promote(factory, tenant, pipe, dev, staging, seeds, role="developer")
    viewer = signed_in("viewer")
    for url in [
        "/ui/pipelines",
        f"/ui/pipelines/{pipe.id}",
        f"/ui/promotions/{promotion.id}",
        "/ui/credential-mappings",
    ]:
        page = viewer.get(url)
        assert page.status_code == 200, url
        assert b"data-action" not in page.data, url
    for url in [
        "/ui/pipelines",
        f"/ui/pipelines/{pipe.id}",
        f"/ui/pipelines/{pipe.id}/deactivate",
        "/ui/promotions",
        f"/ui/promotions/{promotion.id}/approve",
        f"/ui/promotions/{promotion.id}/cancel",
        f"/ui/promotions/{promotion.id}/execute",
        f"/ui/promotions/{promotion.id}/rollback",
        "/ui/logical-credentials",
        "/ui/credential-mappings",
    ]:
        assert viewer.post(url, {"name": "x"}).status_code == 403, url
    assert viewer.get("/ui/pipelines/new").status_code == 403
    assert state(app, tenant, promotion.id)[0].status == "pending_approval"


def test_pages_render_for_every_role(app, signed_in, tenant, factory, seeds, pipe, dev, staging):
    promotion = promote(factory, tenant, pipe, dev, staging, seeds, role="developer")
    for role in ("viewer", "developer", "admin"):
        browser = signed_in(role)
        for url in [
            "/ui/pipelines",
            f"/ui/pipelines/{pipe.id}",
            "/ui/promotions?status=pending_approval",
            f"/ui/promotions?pipeline_id={pipe.id}&target_environment_id={staging.id}",
            "/ui/promotions/new",
            f"/ui/promotions/{promotion.id}",
            f"/ui/promotions/{promotion.id}/diff",
            "/ui/deployments",
            f"/ui/credential-mappings?environment_id={staging.id}",
        ]:
            response = browser.get(url)
            assert response.status_code == 200, (role, url)
            assert b"<main" in response.data


def test_another_tenants_promotion_is_a_404_like_a_missing_one(
    app, signed_in, tenant, factory, seeds, pipe, dev, staging, other_tenant
):
    promotion = promote(factory, tenant, pipe, dev, staging, seeds, role="developer")
    theirs = Browser(app.test_client())
    theirs.sign_in(other_tenant.tokens["admin"])
    for path, ours, message in [
        ("promotions", promotion.id, b"No such promotion."),
        ("pipelines", pipe.id, b"No such pipeline."),
    ]:
        found, missing = (theirs.get(f"/ui/{path}/{i}") for i in (ours, uuid.uuid4()))
        assert found.status_code == missing.status_code == 404
        assert message in found.data and message in missing.data
    assert theirs.post(f"/ui/promotions/{promotion.id}/approve").status_code == 404


def test_credential_mappings_list_create_suggest_update_delete(
    app, signed_in, tenant, factory, dev, staging
):
    def inventory():
        db.add(
            Credential(
                environment_id=staging.id,
                n8n_credential_id="c1",
                name="Slack (staging)",
                type="slackApi",
            )
        )
        db.commit()

    factory.run_as(tenant.id, inventory)
    admin = signed_in("admin")
    back = f"?environment_id={staging.id}"
    created = admin.post(
        f"/ui/logical-credentials{back}",
        {"credential_type": "slackApi", "name": "Slack"},
        follow_redirects=True,
    )
    assert "Added slackApi “Slack”." in created.data.decode()
    page = admin.get(f"/ui/credential-mappings{back}").data.decode()
    assert "Map to “Slack (staging)”" in page  # the inventory's suggestion
    (logical,) = rows(app, tenant, select(LogicalCredential))
    admin.post(
        f"/ui/credential-mappings{back}",
        {
            "logical_credential_id": str(logical.id),
            "environment_id": str(staging.id),
            "n8n_credential_type": "slackApi",
            "n8n_credential_name": "Slack (staging)",
        },
    )
    (mapping,) = factory.run_as(
        tenant.id, lambda: list(db.scalars(credentials.list_mappings(environment_id=staging.id)))
    )
    assert mapping.n8n_credential_name == "Slack (staging)"
    assert (
        admin.post(
            f"/ui/credential-mappings/{mapping.id}{back}", {"n8n_credential_name": "Slack bot"}
        ).status_code
        == 303
    )
    page = admin.get(f"/ui/credential-mappings{back}").data.decode()
    assert 'value="Slack bot"' in page
    viewer_page = signed_in("viewer").get(f"/ui/credential-mappings{back}").data.decode()
    assert "Slack bot" in viewer_page and '<form method="post"' not in viewer_page.split("<main")[1]
    duplicate = admin.post(
        f"/ui/logical-credentials{back}",
        {"credential_type": "slackApi", "name": "Slack"},
        follow_redirects=True,
    )
    assert "A logical credential of that type and name exists already." in duplicate.data.decode()
    admin.post(f"/ui/credential-mappings/{mapping.id}/delete{back}")
    admin.post(f"/ui/logical-credentials/{logical.id}/delete{back}")
    assert rows(app, tenant, select(LogicalCredential)) == []
