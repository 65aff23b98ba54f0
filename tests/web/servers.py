"""The web process as the Procfile runs it (gunicorn --config gunicorn.conf.py), and Debian's
chromium driven by Selenium, for the tests that need real HTTP and a real browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"

#: Chromium's flags: headless, no sandbox (root in CI), and every host but loopback
#: unreachable, so an asset fetched from a CDN would fail to load.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


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


@contextmanager
def gunicorn(settings, home: Path, namespace: str, **env_extra: str) -> Iterator[dict]:
    """gunicorn serving the app on free ports; yields its base URL, metrics URL and log."""
    port, metrics_port = free_port(), free_port()
    out = home / "stdout.log"
    env = {
        **os.environ,
        "HOME": str(home),
        "PORT": str(port),
        "WEB_METRICS_PORT": str(metrics_port),
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": settings.database_url,
        "MIGRATION_DATABASE_URL": settings.migration_database_url,
        "REDIS_URL": settings.redis_url,
        "DRAMATIQ_NAMESPACE": namespace,
        "ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        **env_extra,
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
    try:
        yield {"base": base, "metrics": f"http://127.0.0.1:{metrics_port}/metrics", "log": out}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def chromium(profile: Path, *, width: int = 1280, height: int = 900):
    """Debian's headless chromium under Selenium (quit it when done)."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)
