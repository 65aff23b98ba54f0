"""The dashboard in a real browser (Debian's headless chromium, Selenium) against gunicorn as
deployed: sign in, watch a job's progress bar advance to done through the live stream,
cancel a job, connect an environment, and a viewer without admin buttons who gets 403 when
forcing the request. Each page is saved as a screenshot under .artifacts/screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.jobs.helpers import read_job, start_job
from tests.web.gunicorn_process import ROOT, gunicorn
from tests.web.servers import chromium

SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
#: Seconds a page may take to show what it should.
WAIT_S = 30


@pytest.fixture(scope="module")
def web(settings, tmp_path_factory):
    """gunicorn on the tests' database and broker, so this process's worker runs its jobs."""
    home = tmp_path_factory.mktemp("ui-home")
    with gunicorn(settings, home, ALLOW_PRIVATE_NETWORKS="true") as (base, _):
        yield base


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path / "profile")
    yield driver
    driver.quit()


def wait(browser, condition, timeout: float = WAIT_S):
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    # A live update may replace an element between finding and using it: try again.
    waiting = WebDriverWait(
        browser, timeout, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]
    )
    try:
        return waiting.until(condition)
    except TimeoutException:
        shoot(browser, "timed-out")
        raise


def css(browser, selector: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, selector)


def shoot(browser, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def text(browser, selector: str) -> str | None:
    """The text of the first match, read in one step (live updates replace elements)."""
    script = "const e = document.querySelector(arguments[0]); return e && e.textContent.trim()"
    return browser.execute_script(script, selector)


def sign_in(browser, base: str, token: str) -> None:
    browser.get(f"{base}/ui/sign-in")
    shoot(browser, "sign-in")
    css(browser, "#credential").send_keys(token)
    css(browser, "form button[type=submit]").click()
    wait(
        browser,
        lambda b: b.current_url.endswith("/ui/") and b.find_elements("css selector", "header.top"),
    )
    # The live stream is open before anything happens that it should show.
    wait(browser, lambda b: b.execute_script("return document.body.dataset.live") == "open")


def test_a_job_progress_bar_advances_to_done_live(app, web, browser, tenant, worker):
    sign_in(browser, web, tenant.tokens["developer"])
    # The job waits until its page shows it with the live stream open: a loaded machine
    # must not let it finish before anyone watches.
    worker.pause()
    job_id = start_job(app, tenant.id, params={"steps": 5, "step_seconds": 0.6})
    browser.get(f"{web}/ui/jobs/{job_id}")
    wait(browser, lambda b: b.execute_script("return document.body.dataset.live") == "open")
    # Every value the bar takes, recorded by the page itself (however often this test looks).
    browser.execute_script(
        """window.notReloaded = true; window.seen = [];
        new MutationObserver(() => {
          const bar = document.querySelector('progress');
          if (bar) window.seen.push(Number(bar.value));
        }).observe(document.body, {subtree: true, childList: true, attributes: true});"""
    )
    worker.resume()
    wait(browser, lambda b: text(b, "[data-field=status] .badge") == "completed")
    assert browser.execute_script("return window.notReloaded") is True  # moved in place
    seen = set(browser.execute_script("return window.seen"))
    assert {v for v in seen if 0 < v < 100}, seen  # it advanced, not only jumped to the end
    wait(browser, lambda b: b.find_elements("css selector", "pre.json"))  # the result
    wait(browser, lambda b: css(b, "progress").get_attribute("value") == "100")
    shoot(browser, "job")


def test_cancel_a_job_from_its_page(app, web, browser, tenant):
    job_id = start_job(app, tenant.id)  # no worker: it waits
    sign_in(browser, web, tenant.tokens["developer"])
    browser.get(f"{web}/ui/jobs/{job_id}")
    wait(browser, lambda b: css(b, "button[data-action='jobs:cancel']").click() or True)
    # The flash shows until the live update of the cancelled job replaces the page's status.
    wait(
        browser,
        lambda b: (
            text(b, ".flash.ok") == "Cancellation requested."
            or text(b, "[data-field=status] .badge") == "cancelled"
        ),
    )
    wait(browser, lambda b: text(b, "[data-field=status] .badge") == "cancelled")
    assert read_job(app, tenant.id, job_id).status == "cancelled"
    browser.get(f"{web}/ui/jobs")
    shoot(browser, "jobs")


def test_connect_an_environment_and_browse_it(web, browser, tenant, fake_n8n):
    fake_n8n.add_workflow(name="Invoice sync")
    sign_in(browser, web, tenant.tokens["admin"])
    browser.get(f"{web}/ui/environments/new")
    shoot(browser, "environment-new")
    css(browser, "#name").send_keys("production")
    css(browser, "#url").send_keys(fake_n8n.url)
    css(browser, "#api_key").send_keys(fake_n8n.api_key)
    css(browser, "#environment_class").send_keys("production")
    css(browser, "main form button[type=submit]").click()
    wait(browser, lambda b: text(b, ".flash.ok") == "Connected; its first sync is under way.")
    assert text(browser, "h1").startswith("production")
    assert fake_n8n.api_key not in browser.page_source
    shoot(browser, "environment")
    for tab in ("Workflows", "Executions", "Credentials", "Git"):
        wait(browser, lambda b, tab=tab: b.find_element("link text", tab).click() or True)
        wait(
            browser,
            lambda b, tab=tab: text(b, ".tabs [aria-current=page]") == tab,
        )
        shoot(browser, f"environment-{tab.lower()}")
    for name, path in [
        ("overview", "/ui/"),
        ("environments", "/ui/environments"),
        ("events", "/ui/events"),
        ("users", "/ui/users"),
        ("tokens", "/ui/tokens"),
        ("ignore-rules", "/ui/ignore-rules"),
        ("environment-types", "/ui/environment-types"),
        ("workflow-policy", "/ui/workflow-policy"),
    ]:
        browser.get(f"{web}{path}")
        shoot(browser, name)
    browser.set_window_size(390, 844)  # a phone
    browser.get(f"{web}/ui/")
    shoot(browser, "overview-phone")


def test_a_viewer_has_no_admin_buttons_and_a_forced_request_is_403(
    web, browser, tenant, factory, fake_n8n
):
    env = factory.environment(tenant.id, fake_n8n, name="shared")
    sign_in(browser, web, tenant.tokens["viewer"])
    browser.get(f"{web}/ui/environments/{env.id}")
    assert "shared" in css(browser, "h1").text
    assert not browser.find_elements("css selector", "button[data-action]")
    shoot(browser, "environment-viewer")
    forced = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const token = document.querySelector('meta[name=csrf-token]').content;
        fetch(arguments[0], {method: 'POST', headers: {'X-CSRFToken': token}})
          .then(r => done(r.status));
        """,
        f"{web}/ui/environments/{env.id}/sync",
    )
    assert forced == 403
