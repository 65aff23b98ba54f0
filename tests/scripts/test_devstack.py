"""`make run` and `make demo` (scripts/devstack.py) as a user runs them: everything they start
stops with them, a failed start leaves nothing running, busy ports are named up front, and
the demo shows onboarded environments, workflows, executions and jobs within a minute, and
its overview an open drift incident and a scheduled deployment."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psutil

from tests.scripts.conftest import ROOT, free_port

#: Seconds the launcher may take to serve /readyz from a cold data directory.
START_TIMEOUT_S = 120


class Launcher:
    def __init__(self, data_dir: Path, *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.ports = {
            name: str(free_port())
            for name in (
                "PORT",
                "WEB_METRICS_PORT",
                "WORKER_METRICS_PORT",
                "CLOCK_METRICS_PORT",
                "DEMO_N8N_DEV_PORT",
                "DEMO_N8N_PRODUCTION_PORT",
            )
        }
        environ = {**os.environ, **self.ports, "N8NOPS_DATA_DIR": str(data_dir), **env}
        for name in ("DATABASE_URL", "MIGRATION_DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEYS"):
            environ.pop(name, None)
        self.out = data_dir / "launcher.out"
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "scripts/devstack.py", *args],
                cwd=ROOT,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.ports['PORT']}"

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def get(self, path: str, token: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, None

    def dashboard(self, token: str, path: str) -> str:
        """A dashboard page as a browser signed in with ``token`` sees it."""
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

        def page(url: str, form: dict | None = None) -> str:
            body = urllib.parse.urlencode(form).encode() if form else None
            with browser.open(self.base + url, data=body, timeout=10) as response:
                return response.read().decode()

        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page("/ui/sign-in")).group(1)
        page("/ui/sign-in", {"credential": token, "csrf_token": csrf})
        return page(path)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.5)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=90)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)

    def leftovers(self) -> list[str]:
        """Processes still running that belong to this launcher's data or ports."""
        mine = str(self.data_dir)
        found = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if mine in cmdline:
                found.append(f"{proc.info['pid']} {cmdline}")
        found += [f"port {p} in use" for p in self.ports.values() if not _free(int(p))]
        return found


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _eventually_nothing_left(launcher: Launcher) -> None:
    deadline = time.monotonic() + 15
    while leftovers := launcher.leftovers():
        assert time.monotonic() < deadline, leftovers
        time.sleep(0.5)


def test_sigterm_stops_everything_it_started(data_dir):
    launcher = Launcher(data_dir)
    try:
        launcher.wait_ready()
        assert (data_dir / "run.lock").exists()
    finally:
        code = launcher.stop()
    assert code == 143, launcher.output()
    assert "n8n-ops: API at" in launcher.output()
    _eventually_nothing_left(launcher)


def test_a_failed_start_leaves_nothing_running(data_dir):
    launcher = Launcher(data_dir, LOG_FORMAT="yaml")  # every process refuses to start
    try:
        code = launcher.process.wait(timeout=START_TIMEOUT_S)
    finally:
        if launcher.process.poll() is None:
            launcher.stop(signal.SIGKILL)
    assert code != 0, launcher.output()
    assert "LOG_FORMAT is one of json, text" in launcher.output()
    _eventually_nothing_left(launcher)


def test_a_busy_port_is_named_before_anything_starts(data_dir):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        launcher = Launcher(data_dir, PORT=str(port))
        code = launcher.process.wait(timeout=60)
    assert code == 2
    assert f"port {port} (the API) is in use" in launcher.output()
    assert "set PORT to another port" in launcher.output()
    assert not list(data_dir.glob("pg*")) and not (data_dir / "run.lock").exists()


def test_demo_shows_environments_workflows_executions_jobs_an_incident_and_a_deployment(
    data_dir,
):
    launcher = Launcher(data_dir, "--demo")
    started = time.monotonic()
    try:
        launcher.wait_ready()
        token = re.search(r"token \(shown once\): (\S+)", launcher.output()).group(1)
        deadline = started + START_TIMEOUT_S
        while True:
            _, envs = launcher.get("/api/v1/environments", token)
            if (
                envs
                and all(e["connection_status"] == "healthy" for e in envs)
                and all(e["last_credential_sync_at"] for e in envs)
            ):
                break
            assert time.monotonic() < deadline, (envs, launcher.output()[-3000:])
            time.sleep(1)
        assert {e["name"]: e["environment_class"] for e in envs} == {
            "dev": "dev",
            "production": "production",
        }
        [production] = [e for e in envs if e["name"] == "production"]
        for env in envs:
            _, workflows = launcher.get(f"/api/v1/environments/{env['id']}/workflows", token)
            assert len(workflows) >= 4, env["name"]
        _, executions = launcher.get("/api/v1/executions?limit=100", token)
        assert {"success", "error"} <= {e["status"] for e in executions}
        assert any(e["error_message"] for e in executions)
        _, jobs = launcher.get("/api/v1/jobs", token)
        onboarding = [j for j in jobs if j["job_type"] == "onboarding"]
        assert len(onboarding) == 2 and {j["status"] for j in onboarding} == {"completed"}
        _, [incident] = launcher.get("/api/v1/incidents?active=true", token)
        assert incident["environment_id"] == production["id"]
        assert [w["name"] for w in incident["affected_workflows"]] == ["Error alerts to on-call"]
        _, [deployment] = launcher.get("/api/v1/deployments?status=scheduled", token)
        assert datetime.fromisoformat(deployment["scheduled_for"]) > datetime.now(UTC)
        overview = launcher.dashboard(token, "/ui/")
        assert f"/ui/incidents/{incident['id']}" in overview
        assert f"/ui/deployments/{deployment['id']}" in overview
        assert "No open incident." not in overview and "No deployment scheduled." not in overview
    finally:
        code = launcher.stop(signal.SIGINT)  # Ctrl-C
    assert code == 130, launcher.output()[-3000:]
    _eventually_nothing_left(launcher)
