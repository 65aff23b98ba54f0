"""The web process as the Procfile runs it (gunicorn --config gunicorn.conf.py): JSON access
log, metrics on their own port, no control socket, header limits, and /docs in a real
browser (Debian's chromium, headless) with every address but loopback unreachable."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def web(settings, tmp_path_factory):
    """gunicorn serving the app; yields (base URL, metrics URL, its stdout, its HOME)."""
    home = tmp_path_factory.mktemp("home")
    port, metrics_port = free_port(), free_port()
    out = home / "stdout.log"
    env = {
        **os.environ,
        "HOME": str(home),
        "PORT": str(port),
        "WEB_METRICS_PORT": str(metrics_port),
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "2",
        "DATABASE_URL": settings.database_url,
        "MIGRATION_DATABASE_URL": settings.migration_database_url,
        "REDIS_URL": settings.redis_url,
        # Its own namespace: its presence reports must not meet other tests' key rotations.
        "DRAMATIQ_NAMESPACE": f"{settings.dramatiq_namespace}-gunicorn",
        "ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
    }
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with out.open("wb") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "--config", "gunicorn.conf.py", "web:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if get(f"{base}/healthz")[0] == 200:
                break
        except OSError:
            pass
        assert process.poll() is None, out.read_text()
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.2)
    yield base, f"http://127.0.0.1:{metrics_port}/metrics", out, home
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
    from selenium.webdriver.support import expected_conditions
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
        f"--user-data-dir={tmp_path / 'profile'}",
        # Every host but loopback is unreachable: a CDN asset would fail to load.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    browser = webdriver.Chrome(options=options, service=service)
    try:
        browser.get(f"{web[0]}/docs")
        WebDriverWait(browser, 30).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock"))
        )
        paths = {
            element.text
            for element in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
        }
        assert {"/api/v1/me", "/api/v1/jobs", "/api/v1/environments"} <= paths
        assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) >= 20
    finally:
        browser.quit()
