"""Open a diff in a real browser: the workflow matrix, a drifted cell's diff (Git vs what
runs), two commits picked from the history and compared, and the drift incident about it
with its TTL countdown, then acknowledged from its page. Screenshots of each page under
.artifacts/screenshots (the browser and helpers are test_browser.py's)."""

from __future__ import annotations

import pytest
from selenium.webdriver.support.ui import Select

from tests.drift import approve_all
from tests.web.gunicorn_process import gunicorn
from tests.web.ui.test_browser import browser, css, shoot, sign_in, text, wait  # noqa: F401
from tests.web.ui.worlds import drifted, with_incident


@pytest.fixture(scope="module")
def web(settings, tmp_path_factory):
    """gunicorn as test_browser.py's, reading the embedded Git repositories the tests write."""
    home = tmp_path_factory.mktemp("ui-diff-home")
    with gunicorn(settings, home, DATA_DIR=settings.data_dir) as (base, _):
        yield base


def shoot_page(driver, name: str) -> None:
    """The whole page, not only the window: as tall as its content (within reason)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 900), 4000))
    shoot(driver, name)
    driver.set_window_size(1280, 900)


def test_open_a_diff_from_the_matrix_and_act_on_the_incident(
    web,
    browser,  # noqa: F811
    tenant,
    factory,
    fake_n8n,
    second_n8n,
):
    world = drifted(factory, tenant, fake_n8n, name="production", environment_class="production")
    staging = factory.environment(tenant.id, second_n8n, name="staging")
    approve_all(factory, tenant, staging, second_n8n, 3)  # in sync there, absent in production
    incident = with_incident(factory, tenant, world)
    sign_in(browser, web, tenant.tokens["developer"])

    browser.get(f"{web}/ui/workflows")
    wait(browser, lambda b: b.find_elements("css selector", "td[data-state=drift]"))
    assert len(browser.find_elements("css selector", "td[data-state=in_sync]")) == 3
    shoot_page(browser, "workflow-matrix")
    css(browser, "a.cell-diff").click()
    wait(browser, lambda b: b.find_elements("css selector", "section[data-section=node]"))
    assert text(browser, "h3.sides") == (
        "production — approved in Git ⇄compared with production — running in n8n"
    )
    added = css(browser, "section[data-section=node] tr.chg-added")
    assert "Added" in added.text and "Notify" in added.text
    shoot_page(browser, "workflow-diff")

    # Two versions picked from the history: the older commit against the newer one.
    options = browser.find_elements("css selector", "#side-left option[value*='@']")
    newer, older = (o.get_attribute("value") for o in options[:2])
    Select(css(browser, "#side-left")).select_by_value(older)
    Select(css(browser, "#side-right")).select_by_value(newer)
    css(browser, "#diff + form button[type=submit]").click()
    wait(browser, lambda b: f"Git @ {older.rsplit('@', 1)[1][:10]}" in (text(b, "h3.sides") or ""))
    changed = css(browser, "section[data-section=node] tr.chg-changed")
    assert changed.find_element("css selector", "td.old pre").text == "1"
    assert changed.find_element("css selector", "td.new pre").text == "2"
    shoot_page(browser, "workflow-history-diff")

    browser.get(f"{web}/ui/incidents")
    wait(browser, lambda b: b.find_element("link text", incident.title).click() or True)
    wait(browser, lambda b: (text(b, "time.ttl") or "").endswith("left"))
    shoot_page(browser, "drift-incident")
    css(browser, "#acknowledge-reason").send_keys("looking into it")
    css(browser, "button[data-step=acknowledge]").click()
    wait(browser, lambda b: text(b, ".flash.ok") == "Acknowledge: now acknowledged.")
    assert browser.find_elements("css selector", "button[data-step=stabilize]")
    shoot_page(browser, "drift-incident-acknowledged")
