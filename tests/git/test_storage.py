"""Where Git lives on a host, and the line each process says about it at start."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.config import DEFAULT_DATA_DIR, Settings
from services.git import storage_notice
from services.secrets import new_key_entry

ROOT = Path(__file__).resolve().parents[2]


def test_the_data_folder_defaults_to_the_checkouts_data():
    assert Settings.from_env({}).data_dir == DEFAULT_DATA_DIR == str(ROOT / ".data")
    assert Settings.from_env({"DATA_DIR": "/var/lib/n8nops"}).data_dir == "/var/lib/n8nops"


def test_the_embedded_repository_is_off_on_heroku_unless_asked_for():
    assert Settings.from_env({}).embedded_git is True
    assert Settings.from_env({"DYNO": "web.1"}).embedded_git is False
    assert Settings.from_env({"DYNO": "web.1", "EMBEDDED_GIT": "on"}).embedded_git is True
    assert Settings.from_env({"EMBEDDED_GIT": "off"}).embedded_git is False


def test_the_web_process_says_where_git_lives(make_app, caplog):
    with caplog.at_level(logging.INFO, logger="services.git"):
        make_app(embedded_git=False)
    (line,) = [r for r in caplog.records if r.name == "services.git"]
    assert line.levelno == logging.WARNING
    assert line.getMessage() == storage_notice(Settings(embedded_git=False))
    assert "needs a remote repository" in line.getMessage()


@pytest.mark.parametrize(
    "process", [["-c", "import jobs.worker"], ["-c", "import scheduler; scheduler.main()"]]
)
def test_the_worker_and_the_clock_say_it_at_start(process):
    env = {
        **os.environ,
        "DYNO": "worker.1",
        "ENCRYPTION_KEYS": new_key_entry("start"),
        # Nothing listens there: the process stops right after its start-up notice.
        "DATABASE_URL": "postgresql://n8nops_app@127.0.0.1:1/none",
    }
    result = subprocess.run(
        [sys.executable, *process], cwd=ROOT, env=env, capture_output=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "EMBEDDED_GIT is off" in result.stderr.decode()


def test_the_notice_on_a_single_host():
    notice = storage_notice(Settings(data_dir="/srv/data"))
    assert "/srv/data/git" in notice and "EMBEDDED_GIT=off" in notice
