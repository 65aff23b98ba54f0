"""The web process as the Procfile runs it (gunicorn --config gunicorn.conf.py): JSON access
log, metrics on their own port, no control socket, header limits, and /docs in a real
browser (Debian's chromium, headless) with every address but loopback unreachable."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.web.gunicorn_process import free_port, get, gunicorn


@pytest.fixture(scope="module")
def web(settings, tmp_path_factory):
    """gunicorn serving the app; yields (base URL, metrics URL, its stdout, its HOME)."""
    home = tmp_path_factory.mktemp("home")
    metrics_port = free_port()
    # Its own namespace: its presence reports must not meet other tests' key rotations.
    namespace = f"{settings.dramatiq_namespace}-gunicorn"
    env = {"WEB_METRICS_PORT": str(metrics_port), "DRAMATIQ_NAMESPACE": namespace}
    with gunicorn(settings, home, **env) as (base, out):
        yield base, f"http://127.0.0.1:{metrics_port}/metrics", out, home


def _access_lines(out: Path) -> list[dict]:
    lines = []
    for line in out.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "gunicorn.access":
                lines.append(record)
    return lines


def test_access_log_is_json_with_route_and_status(web):
    base, _, out, _ = web
    assert get(f"{base}/api/v1/jobs")[0] == 401
    deadline = time.monotonic() + 5
    while not (found := [r for r in _access_lines(out) if r["path"] == "/api/v1/jobs"]):
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.1)
    record = found[-1]
    assert record["status"] == 401 and record["method"] == "GET"
    assert record["route"] == "/api/v1/jobs" and record["duration_ms"] >= 0
    assert record["process"] == "web" and record["level"] == "INFO"


def test_each_worker_freezes_what_it_loaded(web):
    """A full collection then walks only what requests allocate, not the whole app."""
    _, _, out, _ = web
    frozen = [line for line in out.read_text().splitlines() if "heap frozen" in line]
    assert len(frozen) == 1, out.read_text()  # WEB_CONCURRENCY=1
    assert all(int(json.loads(line)["message"].split()[2]) > 10_000 for line in frozen)


def test_metrics_are_served_on_their_own_port_only(web):
    base, metrics_url, _, _ = web
    assert get(f"{base}/api/v1")[0] == 200
    status, body = get(metrics_url)
    assert status == 200
    assert b'n8nops_http_request_duration_seconds_count{method="GET",route="/api/v1"' in body
    assert get(f"{base}/metrics")[0] == 404


def test_each_web_worker_reports_its_key_ids(web, settings):
    from services import presence

    namespace = f"{settings.dramatiq_namespace}-gunicorn"
    reports = presence.running(settings.with_overrides(dramatiq_namespace=namespace))
    assert [r.kind for r in reports] == ["web"]  # WEB_CONCURRENCY=1
    assert reports[0].key_ids == tuple(e.split(":")[0] for e in settings.encryption_keys)


def test_no_control_socket_is_opened(web):
    _, _, _, home = web
    assert not (home / ".gunicorn").exists()


def test_header_limits_answer_in_the_error_shape_where_the_app_can(web):
    base = web[0]
    status, body = get(f"{base}/api/v1/me", {"X-Big": "a" * 12_000})
    assert status == 431
    assert json.loads(body)["error"] == "request_header_fields_too_large"
    status, body = get(f"{base}/api/v1/me?q=" + "a" * 6000)
    assert status == 414 and json.loads(body)["code"] == 414
    # Far beyond any real client, gunicorn refuses (its own plain answer) before the app.
    status, body = get(f"{base}/api/v1/me", {"X-Huge": "a" * 20_000})
    assert status == 431 and not body.startswith(b"{")


def test_docs_render_in_a_browser_without_internet(web, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # Tall enough for every operation: the UI renders only what is near the viewport.
        "--window-size=1280,40000",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Every host but loopback is unreachable: a CDN asset would fail to load.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    browser = webdriver.Chrome(options=options, service=service)
    try:
        browser.get(f"{web[0]}/docs")
        wanted = {"/api/v1/me", "/api/v1/jobs", "/api/v1/environments"}

        def shown(_browser) -> set[str]:
            found = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
            return {element.text for element in found}

        WebDriverWait(browser, 60).until(lambda b: wanted <= shown(b))
        assert len(shown(browser)) >= 20
    finally:
        browser.quit()


def test_the_master_never_imports_the_session_registry():
    """gunicorn's master loads the config's hooks and logger class before a gevent worker
    patches threading; a session registry created then would be shared by all greenlets."""
    import subprocess
    import sys

    code = (
        "import logging, sys, services.logs, services.metrics, services.config;"
        "services.logs.configure('INFO', process='web', fmt='json');"
        "logging.getLogger('gunicorn.error').info('master logs');"
        "print('models.db' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_stopping_worker_ends_its_event_streams(settings, tenant, tmp_path):
    import socket
    from urllib.parse import urlsplit

    namespace = f"{settings.dramatiq_namespace}-stop"
    with gunicorn(settings, tmp_path, DRAMATIQ_NAMESPACE=namespace) as (base, _):
        address = urlsplit(base)
        stream = socket.create_connection((address.hostname, address.port), timeout=30)
        stream.sendall(
            b"GET /api/v1/events/stream HTTP/1.0\r\n"
            + f"Authorization: Bearer {tenant.tokens['viewer']}\r\n\r\n".encode()
        )
        assert b"200 OK" in stream.recv(4096)
        stopping = time.monotonic()
    # Well within gunicorn's graceful timeout (30 s), which an open stream would use up.
    assert time.monotonic() - stopping < 10
    stream.close()
