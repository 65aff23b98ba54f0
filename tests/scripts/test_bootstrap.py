"""scripts/bootstrap.py: an unsupported interpreter gets one clear line; a broken .venv is
rebuilt, not reused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts import bootstrap

ROOT = Path(__file__).resolve().parents[2]


def test_a_supported_interpreter_passes_the_check():
    result = subprocess.run(
        [sys.executable, "scripts/bootstrap.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == ""


def test_an_unsupported_interpreter_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(bootstrap, "OLDEST", (3, 99))
    problem = bootstrap.check_interpreter()
    assert "\n" not in problem
    assert problem.startswith("n8n-ops needs Python 3.11 to 3.13; ")
    assert sys.executable in problem and "make PYTHON=" in problem


def test_setup_cfg_declares_the_same_versions():
    setup = (ROOT / "setup.cfg").read_text()
    assert "python_requires = >=3.11,<3.14" in setup
    assert (bootstrap.OLDEST, bootstrap.NEWEST) == ((3, 11), (3, 13))
    assert (ROOT / ".python-version").read_text().strip() in {"3.11", "3.12", "3.13"}


@pytest.fixture
def scratch_venv(tmp_path, monkeypatch):
    """bootstrap pointed at a venv under tmp_path, with pip and venv creation recorded."""
    venv = tmp_path / ".venv"
    monkeypatch.setattr(bootstrap, "VENV", str(venv))
    monkeypatch.setattr(bootstrap, "VENV_PYTHON", str(venv / "bin" / "python"))
    monkeypatch.setattr(bootstrap, "STAMP", str(venv / ".n8nops-installed"))
    calls = []

    def check_call(command, **_):
        calls.append(command)
        if command[1:3] == ["-m", "venv"]:
            (venv / "bin").mkdir(parents=True)
            (venv / "bin" / "python").symlink_to(sys.executable)

    monkeypatch.setattr(bootstrap.subprocess, "check_call", check_call)
    return venv, calls


def test_a_broken_venv_is_rebuilt(scratch_venv, capsys):
    venv, calls = scratch_venv
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(venv / "gone" / "python3")  # its interpreter vanished
    (venv / "marker").write_text("old")
    bootstrap.ensure_venv("dev,test")
    assert "rebuilding .venv (it is broken" in capsys.readouterr().out
    assert not (venv / "marker").exists()
    assert calls[0][1:3] == ["-m", "venv"]
    assert any("-c" in call and "-e" in call for call in calls)
    assert (venv / ".n8nops-installed").exists()
    calls.clear()
    bootstrap.ensure_venv("dev,test")  # in step now: nothing to do
    assert calls == []
