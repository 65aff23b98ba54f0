"""One repository, one writer at a time, across every process and host: a PostgreSQL
session-level advisory lock per repository.

The lock lives on a connection of its own, outside the pool: holding a pooled connection
for the length of a push would starve the requests and jobs that share the pool. One such
connection stays open between operations (per process, whatever its threads): opening one
starts a PostgreSQL backend, milliseconds each time; a thread that finds it taken opens
another, closed after use. Any role may take advisory locks, so the app role (no superuser,
no BYPASSRLS) does. If the process dies, its connection closes and the lock goes with it.
Nested use by the same thread for the same repository is a no-op, not a deadlock.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from models.db import get_engine
from services.git.errors import GitBusy

#: Seconds an operation waits for another one on the same repository before giving up.
LOCK_WAIT_S = 120.0

_held = threading.local()


def lock_key(name: str) -> int:
    """The signed 64-bit advisory lock key of a repository name (namespaced, so other users
    of advisory locks do not collide with ours)."""
    digest = hashlib.sha256(f"n8nops-git:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def repository_lock(name: str, *, wait_s: float | None = None) -> Iterator[None]:
    """Hold the lock of repository ``name`` for the block; GitBusy after ``wait_s``."""
    key = lock_key(name)
    held: set[int] = _held.__dict__.setdefault("keys", set())
    if key in held:
        yield
        return
    url = get_engine().url.set(drivername="postgresql").render_as_string(hide_password=False)
    wait = LOCK_WAIT_S if wait_s is None else wait_s
    conn = _connection(url, f"{int(wait * 1000)}ms")
    unlocked = False
    try:
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except psycopg.errors.LockNotAvailable:
            raise GitBusy(
                "Another operation on this Git repository has been running for a while; "
                "try again shortly."
            ) from None
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            # Closing the connection releases the lock anyway; a broken connection has
            # released it already.
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                unlocked = True
    finally:
        if not (unlocked and _keep(url, conn)):
            conn.close()


#: The lock connection kept between operations: (process id, database URL, connection).
_idle: list[tuple[int, str, psycopg.Connection]] = []
_idle_guard = threading.Lock()


def _connection(url: str, lock_timeout: str) -> psycopg.Connection:
    """A lock connection with ``lock_timeout`` set: the kept one if it still answers, else a
    new one."""
    conn = _take(url)
    if conn is not None:
        try:
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))
            return conn
        except psycopg.Error:  # the server ended it (a restart, a dropped database)
            conn.close()
    conn = psycopg.connect(url, autocommit=True, application_name="n8nops-git-lock")
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))
    return conn


def _take(url: str) -> psycopg.Connection | None:
    """The kept connection when it is this process's and for ``url``. A forked child leaves
    its parent's alone (and keeps none of its own)."""
    with _idle_guard:
        if not _idle or _idle[0][0] != os.getpid():
            return None
        _, kept_url, conn = _idle.pop()
    if kept_url == url:
        return conn
    conn.close()  # another database (a test switched engines)
    return None


def _keep(url: str, conn: psycopg.Connection) -> bool:
    """Keep ``conn`` (lock released) for the next operation, unless one is kept already."""
    with _idle_guard:
        if _idle:
            return False
        _idle.append((os.getpid(), url, conn))
        return True
