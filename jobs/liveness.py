"""What a worker process does for the jobs it runs, beside running them: a heartbeat for each
one, and the message of a retry once its backoff is over.

Heartbeats: one thread per process refreshes the heartbeat of every job the process runs,
every BEAT_EVERY_S, whatever each job is doing (blocked in a call to n8n, between
checkpoints), under each attempt's lease. The reaper therefore acts only on jobs whose process
is gone or stopped (killed, paused, cut off from PostgreSQL), or that overran their time
limit (no heartbeat past it). A beat that fails is tried again every second, so heartbeats
resume within a second of PostgreSQL coming back.

Retries: a failed attempt's row is pending with ``not_before`` set (jobs/attempts.release);
this process sends its message when that time comes. If the process stops before then, or
the broker refuses the message, the clock's relay sends it once it is due: the backoff lives
in PostgreSQL, never only in memory.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import timedelta

from jobs import attempts, core
from jobs.attempts import Claim

log = logging.getLogger(__name__)

#: Seconds between the heartbeats a worker process writes for each job it runs.
BEAT_EVERY_S = 5.0
#: Seconds between tries while heartbeats cannot be written (PostgreSQL unreachable).
BEAT_RETRY_S = 1.0


class Heartbeats:
    """The running attempts of this process and the thread that keeps them alive."""

    def __init__(self, every_s: float = BEAT_EVERY_S) -> None:
        self._every_s = every_s
        self._lock = threading.Lock()
        #: job id -> (claim, monotonic time after which it gets no more heartbeats)
        self._running: dict[uuid.UUID, tuple[Claim, float]] = {}
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def track(self, claim: Claim, *, time_limit: timedelta) -> None:
        """Keep ``claim`` alive until forgotten, or until its time limit is over (then the
        reaper may take the job from an attempt that cannot be stopped)."""
        expires = time.monotonic() + time_limit.total_seconds()
        with self._lock:
            self._running[claim.job_id] = (claim, expires)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="job-heartbeats", daemon=True
                )
                self._thread.start()

    def forget(self, claim: Claim) -> None:
        with self._lock:
            if self._running.get(claim.job_id, (None,))[0] is claim:
                del self._running[claim.job_id]

    def running(self) -> list[Claim]:
        """The attempts this process is running now."""
        with self._lock:
            return [claim for claim, _ in self._running.values()]

    def beat(self) -> int:
        """Refresh the heartbeat of every attempt within its time limit (one statement per
        tenant); returns how many still held their lease."""
        now = time.monotonic()
        by_tenant: dict[uuid.UUID, list[Claim]] = defaultdict(list)
        with self._lock:
            for claim, expires in self._running.values():
                if now < expires:
                    by_tenant[claim.tenant_id].append(claim)
        return sum(attempts.beat(tenant_id, claims) for tenant_id, claims in by_tenant.items())

    def stop(self) -> None:
        """End the thread (a process's own instance runs as long as the process)."""
        self._stopped.set()

    def _run(self) -> None:
        wait = self._every_s
        while not self._stopped.wait(wait):
            try:
                self.beat()
            except attempts.DATABASE_DOWN as error:
                log.warning("heartbeats not written (%s); trying again", error)
                wait = BEAT_RETRY_S
            except Exception:
                log.exception("heartbeats not written; trying again")
                wait = BEAT_RETRY_S
            else:
                wait = self._every_s


class DueSends:
    """Messages to send later: each retry's, when its backoff is over (one thread)."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, uuid.UUID, uuid.UUID]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, job_id: uuid.UUID, tenant_id: uuid.UUID, *, after: timedelta) -> None:
        at = time.monotonic() + after.total_seconds()
        with self._wake:
            heapq.heappush(self._due, (at, next(self._order), job_id, tenant_id))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="job-retries", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    timeout = self._due[0][0] - time.monotonic() if self._due else None
                    self._wake.wait(timeout)
                _, _, job_id, tenant_id = heapq.heappop(self._due)
            # A failure is logged by enqueue and left to the relay.
            core.enqueue(job_id, tenant_id)


#: This process's heartbeats and pending retry sends.
HEARTBEATS = Heartbeats()
DUE_SENDS = DueSends()
