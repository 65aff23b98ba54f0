"""Scheduled work, as the clock starts it: each fire inserts its jobs keyed by
(schedule, slot time) with ON CONFLICT DO NOTHING, so a restart, a misfire or two clocks
overlapping during a deploy never run a slot twice."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from jobs import core
from models.db import db, get_engine, reset_context, tenant_scope
from services.errors import Conflict

log = logging.getLogger(__name__)

#: Slots are counted from here, so every clock computes the same slot for the same moment.
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Schedule:
    """A recurring fire: ``plan(slot)`` starts that slot's jobs and returns how many."""

    key: str
    every: timedelta
    plan: Callable[[datetime], int]
    #: How late a fire may still run (the clock was busy or restarting); never APScheduler's 1 s.
    misfire_grace: timedelta


def slot_for(moment: datetime, every: timedelta) -> datetime:
    """The start of the slot ``moment`` falls in."""
    slots = (moment - EPOCH) // every
    return EPOCH + slots * every


def fire(schedule: Schedule, *, now: datetime | None = None) -> int:
    slot = slot_for(now or datetime.now(UTC), schedule.every)
    started = schedule.plan(slot)
    log.info("schedule %s slot %s: %d jobs started", schedule.key, slot.isoformat(), started)
    return started


def start_scheduled(
    job_type: str,
    *,
    tenant_id: uuid.UUID,
    schedule_key: str,
    slot: datetime,
    **start_options,
) -> bool:
    """Start one scheduled job as ``tenant_id``; False if the slot already has it, or a job
    with the same concurrency key is still running (the next slot will try again)."""
    try:
        with tenant_scope(tenant_id):
            job = core.start(
                job_type,
                schedule_key=schedule_key,
                scheduled_slot=slot,
                triggered_by="schedule",
                **start_options,
            )
            db.commit()
            return job is not None
    except Conflict:
        return False
    finally:
        reset_context()


def environment_plan(job_type: str) -> Callable[[datetime], int]:
    """A plan starting one ``job_type`` job per environment, each keyed by its environment
    (so it also never overlaps a manual run of the same kind)."""

    def plan(slot: datetime) -> int:
        with get_engine().connect() as conn:
            rows = conn.execute(text("SELECT * FROM scheduled_environments()")).all()
        return sum(
            start_scheduled(
                job_type,
                tenant_id=row.tenant_id,
                schedule_key=f"{job_type}:{row.environment_id}",
                slot=slot,
                resource_type="environment",
                resource_id=row.environment_id,
                concurrency_key=f"{job_type}:{row.environment_id}",
            )
            for row in rows
        )

    return plan
