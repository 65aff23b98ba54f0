"""The Dramatiq broker: Redis is the only transport; PostgreSQL holds job state."""

from __future__ import annotations

import threading

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, Middleware

from jobs.telemetry import JobTelemetry
from services.config import Settings

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


#: Set while this process's worker is stopping; checked at every job checkpoint.
shutting_down = threading.Event()


class ShutdownNotice(Middleware):
    """Tell running jobs the worker is stopping, so kinds safe to repeat hand themselves back
    instead of being cut off (SIGTERM, a deploy) and left for the reaper."""

    def after_worker_boot(self, broker, worker) -> None:
        shutting_down.clear()

    def before_worker_shutdown(self, broker, worker) -> None:
        shutting_down.set()


def setup_broker(settings: Settings) -> RedisBroker:
    """The process's broker; set up once, reused if asked again with the same settings."""
    current = dramatiq.broker.global_broker
    key = (settings.redis_url, settings.dramatiq_namespace)
    if isinstance(current, RedisBroker) and getattr(current, "n8nops_key", None) == key:
        return current
    broker = RedisBroker(
        url=settings.redis_url,
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
