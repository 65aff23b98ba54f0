"""The worker process's entry point: `dramatiq jobs.worker`.

Connects as the app role (refusing a role that could bypass row-level security), sets up
the broker (warning when its Redis could lose messages) and loads every actor.
"""

from __future__ import annotations

import logging

from jobs import load_actors
from jobs.broker import setup_broker, warn_if_not_durable
from models.db import check_app_role, init_engine
from services.config import Settings, configure

settings = Settings.from_env()
configure(settings)
logging.basicConfig(level=settings.log_level)
check_app_role(init_engine(settings.database_url))
broker = setup_broker(settings)
warn_if_not_durable(broker)
load_actors()
