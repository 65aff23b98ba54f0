"""The per-repository lock's connection: kept open between operations, replaced when the
server ended it, never kept holding a lock."""

from __future__ import annotations

import psycopg
import pytest

from models.db import get_engine
from services import git
from services.git import lock


def _commit(target, name: str):
    return git.commit_changes(target, changes={name: b"1"}, message="Change", operation="test")


@pytest.fixture
def connects(monkeypatch):
    """The lock connections opened (each is a new PostgreSQL backend), none kept before."""
    while lock._idle:
        lock._idle.pop()[2].close()
    opened = []
    real = psycopg.connect

    def counting(*args, **options):
        opened.append(real(*args, **options))
        return opened[-1]

    monkeypatch.setattr(lock.psycopg, "connect", counting)
    return opened


def _url() -> str:
    return get_engine().url.set(drivername="postgresql").render_as_string(hide_password=False)


def test_operations_in_a_row_share_one_lock_connection(embedded, connects):
    for n in range(3):
        _commit(embedded, f"dev/{n}.json")
    assert len(connects) == 1
    # Kept without the lock: anyone else can take it now.
    with psycopg.connect(_url(), autocommit=True) as other:
        key = lock.lock_key(embedded.lock_name)
        assert other.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,)


def test_a_kept_connection_the_server_ended_is_replaced(embedded, connects):
    _commit(embedded, "dev/a.json")
    kept = lock._idle[0][2]
    with psycopg.connect(_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (kept.info.backend_pid,))
    assert _commit(embedded, "dev/b.json").created
    assert lock._idle[0][2] is not kept


def test_two_locks_at_once_take_two_connections_and_one_is_kept(embedded, connects):
    with lock.repository_lock("elsewhere"), lock.repository_lock(embedded.lock_name):
        pass
    assert len(connects) == 2
    assert [conn for _, _, conn in lock._idle] == connects[1:]
    assert connects[0].closed
