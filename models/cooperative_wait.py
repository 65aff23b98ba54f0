"""psycopg's waits under gevent, yielding to the hub only when the socket would block.

Under gevent's monkey-patching psycopg waits with ``wait_poll`` on gevent's ``select.poll``,
which builds a poll object and io watchers and switches to the hub on every call, even when
the socket is ready at once. Most waits are: a pipeline asks "writable?" once per queued
command and once more to flush it. This wait asks the kernel first (the unpatched poll, zero
timeout) and waits on a gevent io watcher only when nothing is ready, so other greenlets run
exactly while PostgreSQL has not answered. Waits with a timeout (LISTEN's notifies, a
cancel) keep psycopg's own.
"""

from __future__ import annotations

import select
from collections.abc import Callable

from psycopg import waiting
from psycopg.errors import OperationalError

_EVENTS = {
    waiting.WAIT_R: select.POLLIN,
    waiting.WAIT_W: select.POLLOUT,
    waiting.WAIT_RW: select.POLLIN | select.POLLOUT,
}

#: psycopg's own gevent-aware wait (for waits with a timeout), once installed.
_psycopg_wait: Callable | None = None
#: select.poll as it was before gevent patched it, and gevent's cooperative waits by state.
_kernel_poll: Callable | None = None
_block: dict[int, Callable] = {}


def install() -> None:
    """Use this wait for every psycopg connection of the process when gevent patched
    ``select`` (a gevent gunicorn worker); otherwise leave psycopg's choice alone."""
    global _psycopg_wait, _kernel_poll
    try:
        from gevent import monkey, socket
    except ImportError:
        return
    if not monkey.is_module_patched("select") or waiting.wait is wait:
        return
    _psycopg_wait, _kernel_poll = waiting.wait, monkey.get_original("select", "poll")
    _block.update(
        {
            waiting.WAIT_R: socket.wait_read,
            waiting.WAIT_W: socket.wait_write,
            waiting.WAIT_RW: socket.wait_readwrite,
        }
    )
    waiting.wait = wait


def wait(gen, fileno: int, interval: float = 0.0, timeout: float | None = None):
    """Drive ``gen`` as psycopg's waits do: send it what the socket is ready for."""
    if timeout is not None:
        return _psycopg_wait(gen, fileno, interval, timeout)
    try:
        state = next(gen)
        poller = _kernel_poll()
        poller.register(fileno, _EVENTS[state])
        while True:
            events = poller.poll(0)
            if not events:
                _block[state](fileno)  # other greenlets run meanwhile
                continue
            event = events[0][1]
            ready = (waiting.READY_R if event & select.POLLIN else 0) | (
                waiting.READY_W if event & select.POLLOUT else 0
            )
            if not ready:  # only an error or a hang-up
                raise OperationalError("connection socket closed")
            state = gen.send(ready)
            poller.modify(fileno, _EVENTS[state])
    except StopIteration as done:
        return done.value
