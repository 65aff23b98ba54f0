"""Which processes are running, and which encryption key ids each one holds.

Every web, worker and clock process writes a small Redis key every ``BEAT_S`` seconds that
expires after ``TTL_S``: a process that dies drops out within that time. Key rotation reads
them to check that every running process can already decrypt under the new key before
anything is re-encrypted (services/secret_rotation.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass

import redis

from services.config import Settings
from services.secrets import Keyring

log = logging.getLogger(__name__)

#: Seconds between a process's reports.
BEAT_S = 10.0
#: Seconds a report lives; a process silent for longer is taken as gone.
TTL_S = 30


@dataclass(frozen=True)
class ProcessReport:
    kind: str
    host: str
    pid: int
    started_at: float
    key_ids: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.kind} {self.host}:{self.pid}"


def _prefix(settings: Settings) -> str:
    return f"{settings.dramatiq_namespace}:processes:"


class Reporter:
    """Reports this process until ``stop()``; a daemon thread, so it never holds up an exit."""

    def __init__(self, kind: str, settings: Settings) -> None:
        key_ids = Keyring.parse(settings.encryption_keys).key_ids
        self.report = ProcessReport(kind, socket.gethostname(), os.getpid(), time.time(), key_ids)
        self._key = f"{_prefix(settings)}{kind}:{self.report.host}:{self.report.pid}"
        self._redis = redis.Redis.from_url(settings.redis_url)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"presence-{kind}", daemon=True)

    def start(self) -> Reporter:
        self.beat()
        self._thread.start()
        return self

    def beat(self) -> None:
        body = json.dumps(asdict(self.report))
        try:
            self._redis.set(self._key, body, ex=TTL_S)
        except redis.RedisError as error:
            log.warning("presence report failed: %s", error)

    def _run(self) -> None:
        while not self._stopped.wait(BEAT_S):
            self.beat()

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(redis.RedisError):  # it expires on its own anyway
            self._redis.delete(self._key)
        self._redis.close()


_reporters: dict[int, Reporter] = {}


def start(kind: str, settings: Settings) -> Reporter:
    """Report this process as ``kind`` (once per process, also after a fork)."""
    reporter = _reporters.get(os.getpid())
    if reporter is None:
        reporter = _reporters[os.getpid()] = Reporter(kind, settings).start()
    return reporter


def stop() -> None:
    reporter = _reporters.pop(os.getpid(), None)
    if reporter is not None:
        reporter.stop()


def running(settings: Settings) -> list[ProcessReport]:
    """The processes that reported within the last ``TTL_S`` seconds, by kind and host."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        keys = sorted(client.scan_iter(match=f"{_prefix(settings)}*", count=500))
        bodies = client.mget(keys) if keys else []
    finally:
        client.close()
    reports = []
    for body in bodies:
        if body is None:
            continue  # expired between the scan and the read
        fields = json.loads(body)
        fields["key_ids"] = tuple(fields["key_ids"])
        reports.append(ProcessReport(**fields))
    return sorted(reports, key=lambda r: (r.kind, r.host, r.pid))
