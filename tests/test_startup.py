"""Processes refuse to start without usable encryption keys: the worker and the clock exit
with one clear line, the web process serves but is not ready; a command makes a key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from services import admin_cli
from services.secrets import Keyring, configuration_problem

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(command: list[str], settings, keys: str | None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "DRAMATIQ_NAMESPACE": settings.dramatiq_namespace,
    }
    env.pop("ENCRYPTION_KEYS", None)
    if keys is not None:
        env["ENCRYPTION_KEYS"] = keys
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


WORKER = [str(BIN / "dramatiq"), "jobs.worker", "--processes", "1", "--threads", "1"]
CLOCK = [sys.executable, "scheduler.py"]


@pytest.mark.parametrize(
    ("command", "process", "keys", "reason"),
    [
        (WORKER, "worker", None, "ENCRYPTION_KEYS is not set"),
        (CLOCK, "clock", None, "ENCRYPTION_KEYS is not set"),
        (CLOCK, "clock", "k1:not-a-fernet-key", "ENCRYPTION_KEYS is malformed"),
    ],
)
def test_worker_and_clock_exit_with_one_line(settings, command, process, keys, reason):
    result = _run(command, settings, keys)
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("n8n-ops ")]
    assert len(ours) == 1, result.stderr
    assert ours[0].startswith(f"n8n-ops {process}: {reason}")
    assert "n8n-ops-admin generate-key" in ours[0]
    assert "Traceback" not in result.stderr
    assert "not-a-fernet-key" not in result.stderr


def test_web_without_keys_is_up_but_not_ready(make_app):
    client = make_app(encryption_keys=()).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["encryption_keys"].startswith("error: ENCRYPTION_KEYS is not set")


def test_generate_key_prints_a_usable_entry():
    result = CliRunner().invoke(admin_cli.main, ["generate-key", "--id", "2026-12"])
    assert result.exit_code == 0, result.output
    entry = result.output.strip()
    assert entry.startswith("2026-12:")
    assert configuration_problem((entry,)) is None
    ring = Keyring.parse((entry,))
    assert ring.decrypt(ring.encrypt("secret")) == "secret"
    refused = CliRunner().invoke(admin_cli.main, ["generate-key", "--id", "a:b"])
    assert refused.exit_code != 0


def test_duplicate_key_ids_are_a_configuration_problem():
    entry = admin_cli.new_key_entry("same")
    assert "twice" in configuration_problem((entry, admin_cli.new_key_entry("same")))
