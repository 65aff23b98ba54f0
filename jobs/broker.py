"""The Dramatiq broker: Redis, the only transport; PostgreSQL holds job state."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from services.config import Settings


def setup_broker(settings: Settings) -> RedisBroker:
    broker = RedisBroker(url=settings.redis_url, namespace=settings.dramatiq_namespace)
    dramatiq.set_broker(broker)
    return broker
