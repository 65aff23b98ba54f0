"""The worker process's entry point: `dramatiq jobs.worker`.

Logs as JSON, refuses to start without usable encryption keys (one line, exit 1), connects as
the app role (refusing a role that could bypass row-level security), sets up the broker
(warning when its Redis could lose messages; with Dramatiq's Prometheus middleware when the
Procfile asks for metrics) and loads every actor.
"""

from __future__ import annotations

from jobs import load_actors
from jobs.broker import setup_broker, warn_if_not_durable
from jobs.telemetry import instrument_worker
from models.db import check_app_role, init_engine
from services import logs
from services.config import Settings, configure
from services.git import announce_storage
from services.secrets import require_keys

settings = Settings.from_env()
configure(settings)
logs.configure(settings.log_level, process="worker", fmt=settings.log_format)
require_keys(settings.encryption_keys, process="worker")
announce_storage(settings)
check_app_role(init_engine(settings.database_url))
broker = setup_broker(settings)
warn_if_not_durable(broker)
instrument_worker(broker)
load_actors()
