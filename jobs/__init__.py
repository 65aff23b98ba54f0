"""The worker process: `dramatiq jobs` imports this package, which sets up the broker."""

from __future__ import annotations

from jobs.broker import setup_broker
from services.config import Settings

broker = setup_broker(Settings.from_env())
