"""The clock: APScheduler (3.x, in-memory store, UTC) that only enqueues, never does the work.

Schedules are code and rows, not pickles: the job store is rebuilt at every start.
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs import (
    credentials,
    deployments,
    drift,
    executions,
    heartbeat,
    load_actors,
    maintenance,
    sync,
)
from jobs.broker import setup_broker, warn_if_not_durable
from jobs.schedule import EPOCH, Schedule, fire
from models.db import check_app_role, init_engine
from services import logs, metrics, presence
from services.config import Settings, configure
from services.git import announce_storage
from services.secrets import require_keys

#: Seconds between outbox relay runs.
RELAY_EVERY_S = 5
#: Seconds between reaper runs: with jobs stale after 30 s (DEFAULT_STALE_AFTER_S), a dead
#: worker's jobs run again within about 40 s.
REAP_EVERY_S = 10

#: Tenant work on a schedule: the clock only starts these jobs, workers do them.
SCHEDULES: tuple[Schedule, ...] = (
    sync.SCHEDULE,
    executions.SCHEDULE,
    *credentials.SCHEDULES,
    heartbeat.SCHEDULE,
    deployments.SCHEDULE,
    *drift.SCHEDULES,
)


def build_scheduler(schedules: tuple[Schedule, ...] = SCHEDULES) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(
        maintenance.relay,
        IntervalTrigger(seconds=RELAY_EVERY_S, start_date=EPOCH),
        id="outbox-relay",
        misfire_grace_time=RELAY_EVERY_S,
    )
    scheduler.add_job(
        maintenance.reap,
        IntervalTrigger(seconds=REAP_EVERY_S, start_date=EPOCH),
        id="stale-job-reaper",
        misfire_grace_time=REAP_EVERY_S,
    )
    for schedule in schedules:
        scheduler.add_job(
            fire,
            IntervalTrigger(seconds=schedule.every.total_seconds(), start_date=EPOCH),
            args=[schedule],
            id=schedule.key,
            misfire_grace_time=int(schedule.misfire_grace.total_seconds()),
        )
    return scheduler


def main(schedules: tuple[Schedule, ...] = SCHEDULES) -> None:
    settings = Settings.from_env()
    configure(settings)
    logs.configure(settings.log_level, process="clock", fmt=settings.log_format)
    require_keys(settings.encryption_keys, process="clock")
    # APScheduler logs every fire at INFO; the relay alone fires every few seconds.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    announce_storage(settings)
    check_app_role(init_engine(settings.database_url))
    broker = setup_broker(settings)
    warn_if_not_durable(broker)
    load_actors()
    metrics.serve(
        settings.clock_metrics_port,
        settings.metrics_host,
        collectors=[metrics.QueueDepth(broker)],
    )
    presence.start("clock", settings)
    scheduler = build_scheduler(schedules)
    # SIGTERM (a deploy, a dyno restart) stops firing at once; fires are idempotent anyway.
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    scheduler.start()


if __name__ == "__main__":
    main()
