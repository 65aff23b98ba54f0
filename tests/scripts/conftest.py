"""Fixtures for the launcher's tests: a private data directory and free ports."""

from __future__ import annotations

import shutil
import socket
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir():
    """A data directory of its own under .data/ (the embedded PostgreSQL runs as another user
    when the tests run as root, and must reach it), removed afterwards."""
    path = ROOT / ".data" / f"test-launcher-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
