"""Stopping a worker without losing work.

A worker told to stop (SIGTERM: a deploy, a scale-down, honcho or systemd stopping the
process group) lets running jobs of kinds safe to repeat hand themselves back at their next
checkpoint (``shutting_down``); jobs still running when the shutdown timeout is over are
handed back (or, for kinds not safe to repeat, failed with the reason) before the process
exits, instead of being left for the reaper.

Platforms send SIGTERM to the whole process group, so the worker child receives it twice: once
directly, once forwarded by Dramatiq's main process. Dramatiq takes a second SIGTERM as
"kill now" and would cut its jobs off; repeats within DUPLICATE_SIGNAL_WINDOW_S are taken as
the same request.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta

from dramatiq.middleware import Middleware

from jobs import attempts, core
from jobs.liveness import HEARTBEATS

log = logging.getLogger(__name__)

#: Set while this process's worker is stopping; checked at every job checkpoint.
shutting_down = threading.Event()
#: Seconds during which further SIGTERMs count as the first one (a group signal plus
#: Dramatiq's own forward arrive milliseconds apart); a later one still kills at once.
DUPLICATE_SIGNAL_WINDOW_S = 5.0
#: Seconds spent trying to record the jobs left over at exit while PostgreSQL is unreachable.
LEFTOVER_PATIENCE_S = 5.0


class WorkerStopped(Exception):
    """A job of a kind not safe to repeat was still running when its worker stopped."""


class ShutdownNotice(Middleware):
    """Tell running jobs the worker is stopping, and settle those that did not stop in time."""

    def after_worker_boot(self, broker, worker) -> None:
        shutting_down.clear()
        absorb_repeated_sigterm()

    def before_worker_shutdown(self, broker, worker) -> None:
        shutting_down.set()

    def after_worker_shutdown(self, broker, worker) -> None:
        settle_leftovers()
        # The leftovers no longer hold their leases; another Worker of this process (tests
        # start several) starts afresh.
        shutting_down.clear()


def absorb_repeated_sigterm() -> None:
    """Wrap the process's SIGTERM handler (Dramatiq's worker-process handler) so repeats
    within the window are ignored. Only a Python handler in the main thread is wrapped."""
    if threading.current_thread() is not threading.main_thread():
        return
    handler = signal.getsignal(signal.SIGTERM)
    if not callable(handler) or getattr(handler, "absorbs_repeats", False):
        return
    first: list[float] = []

    def on_sigterm(signum, frame):
        now = time.monotonic()
        if first and now - first[0] < DUPLICATE_SIGNAL_WINDOW_S:
            log.info("SIGTERM again (a process-group signal and its forward): already stopping")
            return None
        first[:] = [now]
        return handler(signum, frame)

    on_sigterm.absorbs_repeats = True
    signal.signal(signal.SIGTERM, on_sigterm)


def settle_leftovers() -> None:
    """Jobs of this process still running after the shutdown timeout: hand back those safe
    to repeat (the attempt does not count), fail the others with the reason."""
    for claim in HEARTBEATS.running():
        try:
            _settle(claim)
        except Exception:
            log.exception("job %s: left to the reaper", claim.job_id)


def _settle(claim: attempts.Claim) -> None:
    try:
        repeatable = core.policy_for(claim.job_type).requeue_if_stale
    except LookupError:
        repeatable = False
    if repeatable:
        released = attempts.persist(
            lambda: attempts.release(claim, error=None, delay=timedelta(0)),
            patience_s=LEFTOVER_PATIENCE_S,
        )
        if released:
            core.enqueue(claim.job_id, claim.tenant_id)
            log.info("job %s handed back at shutdown", claim.job_id)
        return
    error = WorkerStopped(
        "The worker stopped while this job ran. This kind of job is not repeated "
        "automatically: check its target, then rerun."
    )
    attempts.persist(
        lambda: attempts.finish(claim, "failed", error=error), patience_s=LEFTOVER_PATIENCE_S
    )
