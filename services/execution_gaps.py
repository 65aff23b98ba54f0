"""Execution ids n8n's listing skipped, tracked until each is read or known gone.

n8n leaves executions in flight (queued, running, waiting in a Wait node) out of its listing
(measured on 1.123.81: even ``status=waiting`` omits them) while a newer, finished one is
listed; ingestion's watermark then moves past them. Execution ids are sequential per instance,
so every id between the watermark and the newest listed id that the listing lacked is
tracked here and read by id (GET /executions/{id} answers executions in flight) until it is
stored, or has answered 404 for GAVE_UP_AFTER (n8n deletes executions it was told not to
save, and a deleted execution never comes back). Each run reads at most READS_PER_RUN, least
recently checked first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Text, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from models.db import current_tenant, db
from models.executions import ExecutionGap
from services.n8n import N8nClient, N8nNotFound

#: Ids one run adds at most (the newest first); a range larger than this (a long pause of
#: ingestion over an instance that saves few executions) is mostly deleted executions.
MAX_NEW = 5_000
#: Tracked ids one run reads at most.
READS_PER_RUN = 250
#: How long a tracked id may answer 404 before it is given up (an execution n8n did not
#: save, or one deleted): long enough for two runs to look.
GAVE_UP_AFTER = timedelta(minutes=10)

#: Ids in the listed range that the listing lacked and that are not stored yet.
_TRACK = text("""
    INSERT INTO execution_gaps (tenant_id, environment_id, n8n_execution_id)
    SELECT :tenant_id, :env_id, gap FROM unnest(:ids) AS gap
     WHERE NOT EXISTS (SELECT 1 FROM executions e
                        WHERE e.environment_id = :env_id AND e.n8n_execution_id = gap)
    ON CONFLICT DO NOTHING
""").bindparams(bindparam("ids", type_=ARRAY(Text)))


@dataclass
class GapRun:
    """What one run did with skipped ids (the ingestion summary's ``gaps``)."""

    tracked: int = 0
    untracked: int = 0
    found: int = 0
    gave_up: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "tracked": self.tracked,
            "untracked": self.untracked,
            "found": self.found,
            "gave_up": self.gave_up,
        }


@dataclass
class Reads:
    """One run's reads of tracked ids: what n8n answered, and what to stop tracking."""

    found: list[dict] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


def skipped(listed: set[str], *, floor: str | None) -> tuple[list[int], int]:
    """Ids above ``floor`` (where the listing stopped; without a numeric one, the lowest
    listed id) and below the newest listed id that the listing lacked: the newest MAX_NEW of
    them, and how many there are in all. Only numeric ids have an order."""
    numbers = sorted((int(i) for i in listed if i.isdigit()), reverse=True)
    if not numbers:
        return [], 0
    low = int(floor) if floor is not None and floor.isdigit() else numbers[-1]
    present = set(numbers)
    total = (numbers[0] - 1 - low) - len([n for n in present if low < n < numbers[0]])
    newest = []
    candidate = numbers[0] - 1
    while candidate > low and len(newest) < MAX_NEW:
        if candidate not in present:
            newest.append(candidate)
        candidate -= 1
    return newest, max(total, 0)


def track(env_id: uuid.UUID, listed: set[str], *, floor: str | None, run: GapRun) -> None:
    """Start tracking the ids the listing skipped (those not stored already), committed."""
    ids, total = skipped(listed, floor=floor)
    run.untracked += total - len(ids)
    if ids:
        params = {"tenant_id": current_tenant(), "env_id": env_id, "ids": [str(i) for i in ids]}
        run.tracked += db.execute(_TRACK, params).rowcount
    db.commit()


def read(client: N8nClient, env_id: uuid.UUID, run: GapRun, progress) -> Reads:
    """Read tracked ids by id (at most READS_PER_RUN, least recently checked first)."""
    gaps = db.execute(
        select(ExecutionGap.n8n_execution_id, ExecutionGap.created_at)
        .where(ExecutionGap.environment_id == env_id)
        .order_by(ExecutionGap.last_checked_at.nulls_first(), ExecutionGap.n8n_execution_id)
        .limit(READS_PER_RUN)
    ).all()
    db.commit()  # no transaction stays open while n8n answers
    reads = Reads()
    given_up_before = datetime.now(UTC) - GAVE_UP_AFTER
    for gap in gaps:
        try:
            reads.found.append(client.get_execution(gap.n8n_execution_id))
            reads.done.append(gap.n8n_execution_id)
        except N8nNotFound:
            if gap.created_at < given_up_before:
                reads.done.append(gap.n8n_execution_id)
                run.gave_up += 1
            else:
                reads.absent.append(gap.n8n_execution_id)
        progress(message=f"reading {len(gaps)} executions the listing skipped")
    run.found += len(reads.found)
    return reads


def settle(env_id: uuid.UUID, reads: Reads) -> None:
    """Stop tracking what was read (once the executions found are stored) or given up, and
    note when the others were looked for; committed."""
    if reads.done:
        db.execute(
            delete(ExecutionGap).where(
                ExecutionGap.environment_id == env_id,
                ExecutionGap.n8n_execution_id.in_(reads.done),
            )
        )
    if reads.absent:
        db.execute(
            update(ExecutionGap)
            .where(
                ExecutionGap.environment_id == env_id,
                ExecutionGap.n8n_execution_id.in_(reads.absent),
            )
            .values(last_checked_at=func.now())
        )
    db.commit()
