"""Scheduled work, as the clock starts it: each fire inserts its jobs keyed by
(schedule, slot time) with ON CONFLICT DO NOTHING, so a restart, a misfire or two clocks
overlapping during a deploy never run a slot twice."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jobs import core
from models.db import db, reset_context, tenant_scope
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
