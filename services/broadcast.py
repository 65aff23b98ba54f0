"""Changes to who may do what reach every process at once, through Redis pub/sub.

A process that revokes a token, deactivates a user or changes a role announces it; every
process listening (one thread each, started on first use, after any fork) drops the
principals it remembered. Redis unreachable: the announcement is lost, and the principal
cache's own expiry (services.identity.PRINCIPAL_CACHE_S) bounds how long a change waits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import redis

from services import config

log = logging.getLogger(__name__)

#: Seconds between attempts to reach Redis again after the subscription broke.
RECONNECT_S = 1.0
#: Seconds a publish may take before the change is left to the cache expiry.
PUBLISH_TIMEOUT_S = 0.5

_started_in: int | None = None
_lock = threading.Lock()
#: Set while this process's listener is subscribed (changes announced then reach it).
_subscribed = threading.Event()


def channel() -> str:
    """The pub/sub channel of this deployment's principal changes."""
    return f"{config.current().dramatiq_namespace}:principals-changed"


def _client(**options: object) -> redis.Redis:
    return redis.Redis.from_url(config.current().redis_url, **options)


def announce() -> None:
    """Tell every process that remembered principals are stale (best effort)."""
    try:
        with _client(socket_timeout=PUBLISH_TIMEOUT_S) as client:
            client.publish(channel(), b"1")
    except redis.RedisError as error:
        log.warning("principal change not broadcast (%s); other processes expire it", error)


def listen(on_change: Callable[[], None]) -> None:
    """Call ``on_change`` whenever any process announces; one thread per process."""
    global _started_in  # noqa: PLW0603 - one listener per process, restarted after a fork
    if _started_in == os.getpid():
        return
    with _lock:
        if _started_in == os.getpid():
            return
        _started_in = os.getpid()
        threading.Thread(
            target=_listen, args=(on_change,), name="principal-broadcast", daemon=True
        ).start()


def wait_subscribed(timeout_s: float) -> bool:
    """Whether this process's listener is subscribed, waiting up to ``timeout_s`` for it."""
    return _subscribed.wait(timeout_s)


def _listen(on_change: Callable[[], None]) -> None:
    while True:
        try:
            with _client(health_check_interval=10) as client, client.pubsub() as pubsub:
                pubsub.subscribe(channel())
                for message in pubsub.listen():
                    # The subscription's confirmation included: changes made while this
                    # process was not subscribed are unknown, so forget everything then too.
                    if message["type"] in ("message", "subscribe"):
                        on_change()
                    if message["type"] == "subscribe":
                        _subscribed.set()
        except redis.RedisError as error:
            _subscribed.clear()
            log.warning("principal broadcast unavailable (%s); retrying", error)
            time.sleep(RECONNECT_S)
