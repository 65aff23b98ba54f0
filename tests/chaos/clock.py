"""The clock as the Procfile runs it (scheduler.main); with CHAOS_FAST_SCHEDULE set, plus a
noop job per tenant every CHAOS_EVERY, so two clocks can be caught firing a slot twice.

    python -m tests.chaos.clock
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from sqlalchemy import text

import scheduler
from jobs.schedule import Schedule, start_scheduled
from models.db import get_engine

#: How often the chaos schedule fires.
CHAOS_EVERY = timedelta(seconds=2)
SCHEDULE_KEY = "chaos:noop"


def plan(slot: datetime) -> int:
    with get_engine().connect() as conn:
        tenant_ids = conn.execute(text("SELECT * FROM all_tenant_ids()")).scalars().all()
    return sum(
        start_scheduled("noop", tenant_id=tenant_id, schedule_key=SCHEDULE_KEY, slot=slot)
        for tenant_id in tenant_ids
    )


CHAOS_SCHEDULE = Schedule(
    key=SCHEDULE_KEY, every=CHAOS_EVERY, plan=plan, misfire_grace=timedelta(seconds=2)
)

if __name__ == "__main__":
    fast = (CHAOS_SCHEDULE,) if os.environ.get("CHAOS_FAST_SCHEDULE") else ()
    scheduler.main((*scheduler.SCHEDULES, *fast))
