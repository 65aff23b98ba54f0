"""The tenant pages in a real browser (Debian's headless chromium, Selenium) against
gunicorn: a person of two tenants picks one at sign-in and switches from the header, an admin
invites someone who joins from the link, and the audit log shows what they did. Each page is
saved as a screenshot under .artifacts/screenshots."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services import environments
from tests.conftest import JWT_SECRET
from tests.drift import on_plan
from tests.jobs.helpers import start_job
from tests.promotions import pipeline, promote, seed, workflow
from tests.web.gunicorn_process import gunicorn
from tests.web.servers import chromium
from tests.web.ui.test_browser import css, shoot, sign_in, text, wait
from tests.web.ui.test_tenant_pages import jwt_for, tenant_name


@pytest.fixture(scope="module")
def web(settings, tmp_path_factory):
    """gunicorn on the tests' database, verifying the tests' JWTs."""
    home = tmp_path_factory.mktemp("ui-tenant-home")
    with gunicorn(
        settings, home, ALLOW_PRIVATE_NETWORKS="true", SUPABASE_JWT_SECRET=JWT_SECRET
    ) as (base, _):
        yield base


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path / "profile")
    yield driver
    driver.quit()


def overview_shows(name: str):
    return lambda b: b.current_url.endswith("/ui/") and name in (text(b, "main") or "")


def test_pick_a_tenant_then_switch(
    web, browser, factory, tenant, other_tenant, fake_n8n, second_n8n
):
    subject = f"person-{uuid.uuid4()}"
    for each, role, fake, env in (
        (tenant, "admin", fake_n8n, "alpha-prod"),
        (other_tenant, "viewer", second_n8n, "beta-prod"),
    ):
        factory.plan(each.id, "pro")
        factory.member(each.id, subject, role=role)
        factory.environment(each.id, fake, name=env)
    browser.get(f"{web}/ui/sign-in")
    css(browser, "#credential").send_keys(jwt_for(subject))
    css(browser, "form button[type=submit]").click()
    wait(browser, lambda b: b.current_url.endswith("/ui/sign-in/tenant"))
    shoot(browser, "tenant-pick")
    css(browser, f"input[value='{other_tenant.id}']").click()
    css(browser, "main form button[type=submit]").click()
    wait(browser, overview_shows("beta-prod"))
    assert "alpha-prod" not in text(browser, "main")
    assert text(browser, ".who") == "viewer"

    from selenium.webdriver.support.ui import Select

    Select(css(browser, "#tenant-switch")).select_by_visible_text(tenant_name(tenant))
    css(browser, ".tenant-switch button").click()
    wait(browser, overview_shows("alpha-prod"))
    assert "beta-prod" not in text(browser, "main")
    assert text(browser, ".flash.ok") == f"Now in {tenant_name(tenant)}."
    assert text(browser, ".who") == "admin"
    shoot(browser, "tenant-switched")


def test_invite_join_and_audit(web, browser, factory, tenant, fake_n8n):
    factory.plan(tenant.id, "pro")
    factory.environment(tenant.id, fake_n8n, name="gamma-prod")
    sign_in(browser, web, tenant.tokens["admin"])
    browser.get(f"{web}/ui/invitations")
    shoot(browser, "invitations")
    css(browser, "#email").send_keys("joiner@people.example")
    css(browser, "#urole").send_keys("developer")
    css(browser, "main form[action$='/ui/invitations'] button[type=submit]").click()
    wait(browser, lambda b: b.find_elements("css selector", "#invitation-link"))
    link = css(browser, "#invitation-link").get_attribute("value")
    assert "/ui/join#n8o_inv_" in link
    shoot(browser, "invitation-issued")

    css(browser, ".signout button").click()
    wait(browser, lambda b: "/ui/sign-in" in b.current_url)
    browser.get(link)
    # The token came after the #: the page took it into the form and out of the address.
    wait(browser, lambda b: css(b, "#token").get_attribute("value").startswith("n8o_inv_"))
    assert "#" not in browser.current_url
    subject = f"joiner-{uuid.uuid4()}"
    css(browser, "#credential").send_keys(jwt_for(subject))
    shoot(browser, "join")
    css(browser, "main form button[type=submit]").click()
    wait(browser, overview_shows("gamma-prod"))
    assert text(browser, ".who") == "developer"
    assert not browser.find_elements("css selector", "a[href='/ui/audit']")

    css(browser, ".signout button").click()
    sign_in(browser, web, tenant.tokens["admin"])
    browser.get(f"{web}/ui/audit")
    wait(browser, lambda b: "user.accept_invitation" in (text(b, "table.audit") or ""))
    shoot(browser, "audit")
    css(browser, "#main input[name=action]").send_keys("user.invite")
    css(browser, "form.filters button[type=submit]").click()
    wait(browser, lambda b: "action=user.invite" in b.current_url)
    actions = {e.text for e in browser.find_elements("css selector", "table.audit td code")}
    assert actions == {"user.invite"}
    shoot(browser, "audit-filtered")
    css(browser, "table.audit td a").click()
    wait(
        browser,
        lambda b: "/ui/audit/" in b.current_url and b.find_elements("css selector", "pre.json"),
    )
    assert "joiner@people.example" in text(browser, "main")
    shoot(browser, "audit-entry")


def test_readme_screenshots(app, web, browser, factory, tenant, fake_n8n, second_n8n):
    """The README's pictures: a populated overview and the workflow matrix (its page comes
    with the canonical pages; until they are in, only the overview)."""
    on_plan(factory, tenant, "pro")
    dev = factory.environment(tenant.id, fake_n8n, name="dev", environment_class="dev")
    staging = factory.environment(
        tenant.id, second_n8n, name="staging", environment_class="staging"
    )
    names = ("Orders", "Invoices", "Lead scoring")
    seeds = seed(
        factory,
        tenant,
        dev,
        fake_n8n,
        {name: workflow(name) for name in names},
        staging=staging,
        fake_staging=second_n8n,
    )
    for env in (dev, staging):
        factory.run_as(tenant.id, environments.test_connection, env.id)
    promotion = promote(
        factory, tenant, pipeline(factory, tenant, dev, staging), dev, staging, seeds
    )
    later = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    scheduled = app.test_client().post(
        f"/api/v1/promotions/{promotion.id}/execute",
        json={"scheduled_for": later},
        headers=tenant.admin,
    )
    assert scheduled.status_code == 202, scheduled.json
    start_job(app, tenant.id, params={"steps": 50, "step_seconds": 1})  # no worker: queued
    sign_in(browser, web, tenant.tokens["admin"])
    browser.get(f"{web}/ui/")
    wait(browser, lambda b: "staging" in (text(b, "#scheduled + ul") or ""))
    shoot(browser, "readme-overview")
    browser.get(f"{web}/ui/workflows")
    wait(browser, lambda b: b.find_elements("css selector", "td[data-state]"))
    shoot(browser, "readme-matrix")
