"""The worker process's entry point: `dramatiq jobs.worker`.

Connects as the app role (refusing a role that could bypass row-level security), sets up
the broker and loads every actor.
"""

from __future__ import annotations

import logging

from jobs import load_actors
from jobs.broker import setup_broker
from models.db import check_app_role, init_engine
from services.config import Settings, configure
from services.git import announce_storage

settings = Settings.from_env()
configure(settings)
logging.basicConfig(level=settings.log_level)
announce_storage(settings)
check_app_role(init_engine(settings.database_url))
broker = setup_broker(settings)
load_actors()
