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
    ui.wait(browser, lambda b: ui.text(b, ".flash.ok") == "Deploying; follow it below.")
    ui.wait(browser, lambda b: ui.text(b, "[data-promotion-status] .badge") == "completed")
    assert browser.execute_script("return window.notReloaded") is True  # htmx, live
    assert ui.text(browser, ".outcomes [data-workflow] .badge") in ("success", "completed")
    ui.shoot(browser, "promotion-completed")
    (promoted,) = [w for w in second_n8n.store.workflows.values() if w["name"] == NAME]
    call = next(n for n in promoted["nodes"] if n["name"] == "Call")
    assert call["parameters"]["url"] == "https://api.example/v2"

    ui.css(browser, "#deploy a").click()
    ui.wait(browser, lambda b: "/ui/deployments/" in b.current_url)
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
