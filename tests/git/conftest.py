"""Fixtures for the Git layer: repositories on the token-protected smart-HTTP server of
tests/conftest.py (``git_server``), and targets for a remote and for the embedded one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.git.target import GitTarget
from services.git.transport import Credentials, parse_remote_url
from tests.git.server import WRITE_TOKEN, GitHttpServer


@dataclass
class Remote:
    """A bare repository served over HTTP, and a target that writes to it."""

    path: Path
    url: str
    target: GitTarget

    def with_credentials(self, **fields) -> GitTarget:
        credentials = Credentials(**{"token": WRITE_TOKEN, **fields})
        return GitTarget(
            self.target.tenant_id, None, self.target.remote, "main", "dev", credentials
        )


def new_remote(server: GitHttpServer, *, tenant_id: uuid.UUID | None = None) -> Remote:
    name = f"flows-{uuid.uuid4().hex[:8]}"
    path = server.create_repository(name)
    url = server.url(name)
    target = GitTarget(
        tenant_id or uuid.uuid4(),
        None,
        parse_remote_url(url, allow_http=True),
        "main",
        "dev",
        Credentials(token=WRITE_TOKEN),
    )
    return Remote(path, url, target)


@pytest.fixture
def remote(app, git_server) -> Remote:
    """An empty repository on the test server, and a target with a write token."""
    return new_remote(git_server)


@pytest.fixture
def embedded(app) -> GitTarget:
    """A fresh tenant's embedded repository."""
    return GitTarget(uuid.uuid4(), None, None, "main", "dev")


@pytest.fixture(params=["embedded", "remote"])
def target(request) -> GitTarget:
    """Each behaviour both ways: the embedded repository and a remote over smart HTTP."""
    if request.param == "embedded":
        return request.getfixturevalue("embedded")
    return request.getfixturevalue("remote").target
