"""A promotion end to end in a real browser against the fake n8n instances: a developer
composes dev -> staging (compare, gates, diff) and requests it, an admin approves and
executes it and watches the deployment reach completed live; the target has the new version.
Each page is saved as a screenshot with test_browser.py's."""

from __future__ import annotations

from selenium.webdriver.support.ui import Select

from tests.web.ui import test_browser as ui
from tests.web.ui.promotion_world import NAME

# The gunicorn server and the browser of test_browser.py, for this module.
web = ui.web
browser = ui.browser


def sign_out(browser) -> None:
    ui.css(browser, "form.signout button").click()
    ui.wait(browser, lambda b: b.find_elements("css selector", "#credential"))


def target_url(fake) -> str:
    """The URL the promoted workflow calls in the target n8n."""
    (found,) = [w for w in fake.store.workflows.values() if w["name"] == NAME]
    return next(n for n in found["nodes"] if n["name"] == "Call")["parameters"]["url"]


def test_run_a_promotion_end_to_end_against_the_fake_n8n(
    app, web, browser, tenant, seeds, pipe, second_n8n, worker
):
    ui.sign_in(browser, web, tenant.tokens["developer"])
    browser.get(f"{web}/ui/promotions/new")
    Select(ui.css(browser, "#pipeline_id")).select_by_visible_text(pipe.name)
    ui.css(browser, "form.filters button[type=submit]").click()
    checkbox = f"#pick-{seeds[NAME].canonical_id}"
    ui.wait(browser, lambda b: b.find_elements("css selector", checkbox))
    ui.shoot(browser, "promotion-pick")
    ui.css(browser, checkbox).click()
    ui.css(browser, "#pick-form button[type=submit]").click()
    ui.wait(browser, lambda b: ui.text(b, "#compare") == "What it would do")
    assert ui.text(browser, ".plan [data-canonical] .badge") == "modified"
    assert "gates pass" in ui.text(browser, "#main")
    ui.css(browser, ".diff-row summary").click()
    assert "https://api.example/v2" in ui.text(browser, "table.diff")
    ui.shoot(browser, "promotion-compose")
    ui.css(browser, "button[data-action='promotions:request']").click()
    ui.wait(browser, lambda b: ui.text(b, ".flash.ok") == "Promotion requested: pending approval.")
    assert "cannot decide on their own" in ui.text(browser, "[data-refusal]")
    promotion_url = browser.current_url
    ui.shoot(browser, "promotion-pending-approval")

    sign_out(browser)
    ui.sign_in(browser, web, tenant.tokens["admin"])
    browser.get(promotion_url)
    ui.css(browser, "button[data-action='promotions:approve']").click()
    ui.wait(browser, lambda b: ui.text(b, "[data-promotion-status] .badge") == "approved")
    ui.shoot(browser, "promotion-approved")
    browser.execute_script("window.notReloaded = true")
    ui.css(browser, "button[data-action='promotions:execute']").click()
    # Its flash may be gone already: the page refreshes itself once the job is over.
    ui.wait(browser, lambda b: ui.text(b, "[data-promotion-status] .badge") == "completed")
    assert browser.execute_script("return window.notReloaded") is True  # htmx, live
    assert ui.text(browser, ".outcomes [data-workflow] .badge") in ("success", "completed")
    ui.shoot(browser, "promotion-completed")
    assert target_url(second_n8n) == "https://api.example/v2"

    browser.find_element("xpath", "//button[text()='Roll back']").click()
    rollback = ".live-job[data-rollback] [data-field=status] .badge"
    ui.wait(browser, lambda b: ui.text(b, rollback) == "completed")
    assert target_url(second_n8n) == "https://api.example/v1"
    ui.shoot(browser, "promotion-rolled-back")

    # Opened by its address: the page's own refresh after the rollback may still be due.
    href = "const a = document.querySelector('a[data-deployment]'); return a && a.href"
    browser.get(ui.wait(browser, lambda b: b.execute_script(href)))
    assert ui.text(browser, "[data-rollback] [data-field=status] .badge") == "completed"
    ui.shoot(browser, "deployment")
    for name, path in [
        ("deployments", "/ui/deployments"),
        ("promotions", "/ui/promotions"),
        ("pipelines", "/ui/pipelines"),
        ("pipeline", f"/ui/pipelines/{pipe.id}"),
        ("pipeline-edit", f"/ui/pipelines/{pipe.id}/edit"),
        ("credential-mappings", "/ui/credential-mappings"),
    ]:
        browser.get(f"{web}{path}")
        ui.shoot(browser, name)
