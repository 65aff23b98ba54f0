"""The deadline of the current unit of work: outbound calls end before it.

A job sets it from its time limit (jobs/actor.py), so a service that hangs makes the job fail
with a timeout naming that service, before the time limit cuts the attempt off anonymously.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


@contextmanager
def until(moment: float) -> Iterator[None]:
    """Within the block, outbound calls end by ``moment`` (time.monotonic())."""
    token = _deadline.set(moment)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline (0 when past it); None without one."""
    moment = _deadline.get()
    return None if moment is None else max(0.0, moment - time.monotonic())
