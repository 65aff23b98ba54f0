"""Failed authentication is rate-limited per client address and per credential prefix, with
the counts in Redis (the `limits` library's moving window), so every process shares them.

Only a credential that was presented and refused counts; a caller over either limit gets
429 with Retry-After, even with a good credential, until the window lets them in again.
Redis unreachable: the limit is not enforced (and a warning says so) rather than refusing
every caller; authentication itself still holds.

A credential this process verified lately (services.identity's principal cache) skips the
Redis reading for CLEAN_READING_S after one that found no failure at all for its address and
its prefix: a client polling with a good token asks Redis about once a second, not twice a
request. Guesses are never verified, so they are counted and checked in Redis every time.
"""

from __future__ import annotations

import logging
import math
import time

import redis
from limits import parse, storage, strategies
from limits.errors import StorageError

from services.config import Settings
from services.errors import TooManyRequests
from services.identity import TOKEN_PREFIX

log = logging.getLogger(__name__)

#: Characters of a personal token that name its bucket: the prefix lists show, which a
#: guesser of that one token keeps.
TOKEN_BUCKET_CHARS = 12
#: Characters from the end of any other credential (a JWT's signature) that name its bucket;
#: a JWT's start is its header, the same for every token.
OTHER_BUCKET_CHARS = 16


#: Seconds a count may take before the limit is skipped for this request.
REDIS_TIMEOUT_S = 0.5
#: Seconds the limits stay skipped after Redis failed, so requests do not each wait for it.
REDIS_RETRY_S = 5.0
#: Seconds a reading without failures lets a lately verified credential through unread: the
#: delay with which failures another process counts reach it (this process's own: none).
CLEAN_READING_S = 1.0
#: Clean readings remembered at most, per process.
CLEAN_READINGS_KEPT = 4096


class AuthThrottle:
    """The limits on failed authentication of one process."""

    def __init__(self, settings: Settings) -> None:
        self._namespace = f"{settings.dramatiq_namespace}:auth-failures"
        self._limits = {
            "address": parse(settings.auth_failures_per_address),
            "credential": parse(settings.auth_failures_per_credential),
        }
        # Our own pool: REDIS_URL may be any form redis-py reads (unix:// too), which
        # the library's scheme names do not all cover.
        pool = redis.ConnectionPool.from_url(settings.redis_url, socket_timeout=REDIS_TIMEOUT_S)
        self._limiter = strategies.MovingWindowRateLimiter(
            storage.RedisStorage("redis://", connection_pool=pool, wrap_exceptions=True)
        )
        self._skip_until = 0.0
        #: (kind, key) -> monotonic time until which its last reading (no failures) holds.
        self._clean: dict[tuple[str, str], float] = {}

    def check(self, address: str | None, credential: str, *, verified_lately: bool) -> None:
        """Raise TooManyRequests when this address or credential failed too often lately."""
        keys = self._keys(address, credential)
        now = time.monotonic()
        if verified_lately and all(self._clean.get(bucket, 0.0) > now for bucket in keys):
            return
        for kind, key in keys:
            stats = self._storage_call(
                "authentication rate limit not enforced",
                lambda kind=kind, key=key: self._limiter.get_window_stats(
                    self._limits[kind], self._namespace, kind, key
                ),
            )
            if stats is None:
                return
            if stats.remaining <= 0:
                raise TooManyRequests(
                    "Too many failed sign-in attempts; try again later.",
                    retry_after_s=max(1, math.ceil(stats.reset_time - time.time())),
                    limited_by=kind,
                )
            if stats.remaining == self._limits[kind].amount:
                if len(self._clean) >= CLEAN_READINGS_KEPT:
                    self._clean.clear()
                self._clean[kind, key] = now + CLEAN_READING_S

    def failed(self, address: str | None, credential: str) -> None:
        """Count one refused credential against its address and its prefix."""
        for kind, key in self._keys(address, credential):
            self._clean.pop((kind, key), None)
            self._storage_call(
                "failed authentication not counted",
                lambda kind=kind, key=key: self._limiter.hit(
                    self._limits[kind], self._namespace, kind, key
                ),
            )

    def _storage_call(self, consequence: str, call):
        """``call()``, or None (and a warning) while Redis fails."""
        if time.monotonic() < self._skip_until:
            return None
        try:
            return call()
        except StorageError as error:
            self._skip_until = time.monotonic() + REDIS_RETRY_S
            log.warning("%s for %.0f s: %s", consequence, REDIS_RETRY_S, error)
            return None

    @staticmethod
    def _keys(address: str | None, credential: str) -> tuple[tuple[str, str], ...]:
        if credential.startswith(TOKEN_PREFIX):
            prefix = credential[:TOKEN_BUCKET_CHARS]
        else:
            prefix = credential[-OTHER_BUCKET_CHARS:]
        return (("address", address or "unknown"), ("credential", prefix))
