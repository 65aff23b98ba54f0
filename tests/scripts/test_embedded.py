"""The embedded PostgreSQL and Redis recover from what a crash leaves: judged by connecting,
a leftover that answers is stopped and replaced, one that does not is removed."""

from __future__ import annotations

import os
import signal
import subprocess

import psutil
import pytest

from scripts.embedded import EmbeddedPostgres, EmbeddedRedis, StartFailed, run_lock


def _kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_redis_recovers_from_a_stale_socket_and_replaces_an_orphan(data_dir):
    first = EmbeddedRedis(data_dir)
    first.start()
    _kill(first.process)  # a crash: the socket file stays, nothing answers on it
    assert first.socket.exists() and not first.answers()

    second = EmbeddedRedis(data_dir)
    second.start()  # the stale socket is removed, a fresh server starts
    assert second.answers()
    # The launcher dies without stopping it: the server answers, owned by nobody.
    third = EmbeddedRedis(data_dir)
    third.start()
    assert third.answers()
    assert second.process.wait(timeout=10) is not None  # the orphan was shut down
    third.stop()
    assert not third.answers() and third.process.returncode is not None


def test_postgres_recovers_from_a_stale_pid_file_and_replaces_an_orphan(data_dir):
    first = EmbeddedPostgres(data_dir)
    first.start()
    postmaster = psutil.Process(first.process.pid)
    children = postmaster.children(recursive=True)
    _kill(first.process)
    psutil.wait_procs(children, timeout=15)
    assert (first.data / "postmaster.pid").exists() and not first.answers()

    second = EmbeddedPostgres(data_dir)
    second.start()
    assert second.answers()
    third = EmbeddedPostgres(data_dir)
    third.start()  # the server of `second` answers, but no launcher holds it: replaced
    assert third.answers()
    assert second.process.wait(timeout=30) is not None
    third.stop()
    assert not third.answers()


def test_a_second_launcher_on_the_same_data_is_refused(data_dir):
    refused = pytest.raises(StartFailed, match=f"pid {os.getpid()}")
    with run_lock(data_dir), refused, run_lock(data_dir):
        pass
