"""The Dramatiq broker: Redis is the only transport; PostgreSQL holds job state."""

from __future__ import annotations

import logging

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from jobs.shutdown import ShutdownNotice
from jobs.telemetry import JobTelemetry
from services.config import Settings

log = logging.getLogger(__name__)

#: Milliseconds without a heartbeat before a worker's unacked messages go back to the queue.
#: Workers heartbeat on every broker call (at least once a second when idle), so 15 s is
#: generous; a live worker misjudged as dead only causes a duplicate delivery, which the job
#: core acks without work. Dramatiq's default is 60 s.
HEARTBEAT_TIMEOUT_MS = 15_000
#: Broker calls, per million, that also sweep dead workers' messages back to their queues.
#: At 50,000 (5%) and about one call a second per idle consumer, a sweep happens every few
#: seconds, so a killed worker's message is redelivered within about 20-30 s. Dramatiq's
#: default of 1,000 (0.1%) plus the 60 s timeout left messages stuck for about nine minutes.
MAINTENANCE_CHANCE = 50_000
#: Seconds to connect to Redis, and to wait for any one reply (every broker command is a
#: short script: none blocks server-side).
REDIS_CONNECT_TIMEOUT_S = 5
REDIS_REPLY_TIMEOUT_S = 10
#: Seconds a pooled Redis connection may sit idle before it is checked before use.
REDIS_HEALTH_CHECK_S = 30


def setup_broker(settings: Settings) -> RedisBroker:
    """The process's broker; set up once, reused if asked again with the same settings."""
    current = dramatiq.broker.global_broker
    key = (settings.redis_url, settings.dramatiq_namespace)
    if isinstance(current, RedisBroker) and getattr(current, "n8nops_key", None) == key:
        return current
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        socket_timeout=REDIS_REPLY_TIMEOUT_S,
        health_check_interval=REDIS_HEALTH_CHECK_S,
    )
    broker = RedisBroker(
        client=client,
        namespace=settings.dramatiq_namespace,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
    )
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(ShutdownNotice())
    broker.add_middleware(JobTelemetry())
    broker.n8nops_key = key
    dramatiq.set_broker(broker)
    return broker


def durability_problems(client: redis.Redis) -> list[str] | None:
    """What in this Redis's configuration could lose queued messages ([] if nothing), or None
    when it will not say (managed Redis often refuses CONFIG)."""
    try:
        config = {}
        for name in ("appendonly", "save", "maxmemory-policy"):
            config.update(client.config_get(name))
    except redis.ResponseError:
        return None
    problems = []
    if config.get("appendonly") != "yes":
        if config.get("save"):
            problems.append(
                "appendonly is off: a restart loses the messages sent since the last snapshot"
            )
        else:
            problems.append(
                "no persistence (appendonly no, save ''): a restart loses every message"
            )
    policy = config.get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        problems.append(f"maxmemory-policy is {policy}: under memory pressure messages are evicted")
    return problems


def warn_if_not_durable(broker: RedisBroker) -> None:
    """Say at start when the broker's Redis is not set up as production needs (README)."""
    try:
        problems = durability_problems(broker.client)
    except redis.RedisError as error:
        log.warning("Redis not reachable at start (%s); the processes retry", error)
        return
    if problems is None:
        log.info("Redis refused CONFIG GET: check its persistence settings (README, Redis)")
    for problem in problems or ():
        log.warning(
            "Redis: %s. Jobs are not lost (the clock's relay re-sends from PostgreSQL), but "
            "they wait until it does; see README, Redis.",
            problem,
        )
