"""Execution ingestion: an environment's executions, incrementally, from n8n into ``executions``.

Ingestion pages n8n's executions newest first (ordered by id) down to the environment's
watermark, the newest id a completed run ingested; a first run stops at the plan's retention
window instead. Listed executions are written four pages at a time (WRITE_BATCH), each batch
one upsert statement that leaves unchanged rows unwritten, so re-reading a page adds and
changes nothing. n8n leaves executions in flight out of its listing, so the ids it skipped
below the newest one are tracked and read by id (services/execution_gaps.py). Executions seen
unfinished in an earlier run are re-read by id, since n8n changes them after first sight. Run
data (megabytes at times) is fetched only for failures, once each: a row already stored as a
failure is not fetched again. The watermark moves only when a run completes, so a run that
fails half-way skips nothing: the next one reads the same range again, cheaply, because
upserts are idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from models.db import db
from models.environments import Environment
from models.executions import Execution
from services import entitlements, environments, execution_gaps, execution_writes
from services.errors import Unavailable
from services.n8n import N8nClient, N8nError, N8nNotFound, N8nResponseTooLarge
from services.progress import Progress, no_progress
from services.url_safety import UnsafeUrlError

#: Executions per listing page: n8n's maximum.
PAGE_SIZE = 250
#: Listed executions per write (one statement, one commit): four pages' worth. A page spans
#: minutes, so each write rewrites the same hour and day roll-up rows whatever its size; four
#: pages at a time rewrite them a quarter as often (bench/execution_ingestion.py: 0.43 of the
#: raw rate per page, 0.65 per four).
WRITE_BATCH = 4 * PAGE_SIZE
#: Longest error message kept, in characters: n8n's messages can embed whole payloads.
MAX_ERROR_MESSAGE_CHARS = 4000

#: Spelled as ix_executions_unfinished's predicate, so the planner can use that partial index.
_UNFINISHED = text("executions.normalized_status IN ('running', 'waiting')")


class IngestionInterrupted(Unavailable):
    """n8n failed during a run; what was stored stays, the watermark did not move."""

    code = "ingestion_interrupted"

    def __init__(self, message: str, *, retryable: bool, **details) -> None:
        super().__init__(message, **details)
        #: Whether the job should try again (not after a refused key, say).
        self.retryable = retryable


@dataclass
class _Run:
    """Counts of one ingestion run (its summary) and where its listing stops."""

    watermark: str | None
    cutoff: datetime | None
    pages: int = 0
    listed: int = 0
    reread: int = 0
    inserted: int = 0
    updated: int = 0
    failures_fetched: int = 0
    vanished: int = 0
    newest: str | None = None
    #: The id the listing covered down to (exclusive): the watermark, the first execution
    #: past retention, or "0" when n8n listed everything it has.
    floor: str | None = None
    gaps: execution_gaps.GapRun = field(default_factory=execution_gaps.GapRun)

    def reached_end(self, execution: dict[str, Any]) -> bool:
        """Whether the listing got down to what earlier runs ingested, or past retention."""
        if self.watermark is not None and not is_newer(execution["id"], self.watermark):
            self.floor = self.watermark
            return True
        started = execution.get("startedAt")
        if self.cutoff is not None and started is not None and _time(started) < self.cutoff:
            self.floor = execution["id"]
            return True
        return False

    def summary(self) -> dict[str, Any]:
        return {
            "pages": self.pages,
            "listed": self.listed,
            "reread": self.reread,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.listed + self.reread + self.gaps.found - self.inserted - self.updated,
            "failures_fetched": self.failures_fetched,
            "vanished": self.vanished,
            "watermark": self.watermark,
            "skipped_ids": self.gaps.summary(),
        }


def ingest(env_id: uuid.UUID, *, progress: Progress = no_progress) -> dict:
    """Bring the environment's executions up to date from n8n; returns the run's summary.

    ``progress`` takes JobContext.progress's keywords (and may raise to cancel the run).
    """
    env = environments.get(env_id)
    run = _Run(watermark=env.execution_watermark, cutoff=_retention_cutoff())
    # Snapshot before listing: only executions an earlier run left unfinished need a re-read.
    unfinished = set(
        db.scalars(
            select(Execution.n8n_execution_id).where(
                Execution.environment_id == env.id, _UNFINISHED
            )
        )
    )
    db.commit()  # no transaction stays open while n8n answers
    try:
        with environments.n8n_session(env) as client:
            seen = _read_new(client, env, run, progress)
            execution_gaps.track(env.id, seen, floor=run.floor, run=run.gaps)
            _reread(client, env, run, sorted(unfinished - seen), progress)
            reads = execution_gaps.read(client, env.id, run.gaps, progress)
            _store(client, env, reads.found, run, progress)
            execution_gaps.settle(env.id, reads)
    except (N8nError, UnsafeUrlError) as error:
        _, diagnosis = environments.diagnose(error)
        raise IngestionInterrupted(
            f"Execution ingestion stopped after {run.pages} page(s) and "
            f"{run.listed + run.reread} execution(s): {diagnosis} The watermark is unchanged, "
            "so the next run reads the rest.",
            pages=run.pages,
            retryable=getattr(error, "retryable", True),
        ) from error
    run.watermark = _advance_watermark(env.id, run.newest)
    return run.summary()


def _read_new(client: N8nClient, env: Environment, run: _Run, progress) -> set[str]:
    """List newest first down to the watermark, writing WRITE_BATCH executions at a time;
    the ids seen."""
    seen: set[str] = set()
    batch: list[dict] = []
    details: dict[str, tuple[str | None, str | None]] = {}
    try:
        for page in client.iter_executions(page_size=PAGE_SIZE):
            fresh = []
            for execution in page:
                if run.reached_end(execution):
                    break
                fresh.append(execution)
            if run.newest is None and fresh:
                run.newest = fresh[0]["id"]
            run.pages += 1
            run.listed += len(fresh)
            seen.update(execution["id"] for execution in fresh)
            details |= _failure_details(client, env, fresh, run, progress)
            batch += fresh
            if len(batch) >= WRITE_BATCH:
                _write(env, batch, details, run)
                batch, details = [], {}
            progress(current=run.listed, message=f"page {run.pages}: {run.listed} executions read")
            if len(fresh) < len(page):
                break
        else:
            run.floor = run.watermark or "0"
    except (N8nError, UnsafeUrlError):
        # What n8n answered before it failed is stored: the rerun then finds it unchanged.
        _write(env, batch, details, run)
        raise
    _write(env, batch, details, run)
    return seen


def _reread(client: N8nClient, env: Environment, run: _Run, ids: list[str], progress) -> None:
    """Read the executions left unfinished by earlier runs again, a page's worth at a time."""
    for start in range(0, len(ids), PAGE_SIZE):
        current, gone = [], []
        for execution_id in ids[start : start + PAGE_SIZE]:
            try:
                current.append(client.get_execution(execution_id))
            except N8nNotFound:
                gone.append(execution_id)
            progress(message=f"re-reading {len(ids)} unfinished executions")
        run.reread += len(current)
        _store(client, env, current, run, progress)
        # Deleted in n8n while unfinished: our copy would stay "running" forever.
        run.vanished += execution_writes.delete(env, gone)
        db.commit()


def _store(client: N8nClient, env: Environment, page: list[dict], run: _Run, progress) -> None:
    """Fetch the details of the page's new failures, upsert the page, commit."""
    _write(env, page, _failure_details(client, env, page, run, progress), run)


def _write(
    env: Environment,
    executions: list[dict],
    details: dict[str, tuple[str | None, str | None]],
    run: _Run,
) -> None:
    """Upsert executions with their failures' details, commit."""
    inserted, updated = execution_writes.upsert_page(env, executions, details)
    run.inserted += inserted
    run.updated += updated
    db.commit()


def _failure_details(
    client: N8nClient, env: Environment, page: list[dict], run: _Run, progress
) -> dict[str, tuple[str | None, str | None]]:
    """{id: (error message, node)} for the page's failures not yet stored as failures."""
    failed = [
        e["id"] for e in page if execution_writes.normalize_status(e.get("status")) == "error"
    ]
    if not failed:
        return {}
    known = set(
        db.scalars(
            select(Execution.n8n_execution_id).where(
                Execution.environment_id == env.id,
                Execution.n8n_execution_id.in_(failed),
                Execution.normalized_status == "error",
            )
        )
    )
    db.commit()  # no transaction stays open while n8n answers
    details = {}
    for execution_id in failed:
        if execution_id in known:
            continue
        try:
            full = client.get_execution(execution_id, include_data=True)
        except (N8nNotFound, N8nResponseTooLarge):
            # Deleted meanwhile, or run data beyond the client's cap: stored without details,
            # and (being stored as a failure now) never fetched again.
            continue
        details[execution_id] = error_details(full)
        run.failures_fetched += 1
        progress(message=f"fetched details of {run.failures_fetched} failures")
    return details


def error_details(execution: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(message, node name) of a failed execution fetched with includeData."""
    result = _dig(execution, "data", "resultData")
    error = _dig(result, "error")
    node = _dig(error, "node")
    node_name = _dig(node, "name") if isinstance(node, dict) else node
    message = _dig(error, "message") or _dig(error, "description")
    if not isinstance(message, str):
        message = None
    node_name = node_name or _dig(result, "lastNodeExecuted")
    return (
        message[:MAX_ERROR_MESSAGE_CHARS] if message else None,
        node_name if isinstance(node_name, str) else None,
    )


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _retention_cutoff() -> datetime | None:
    """Executions started before this are outside the plan's window (None: unlimited).

    Also bounds incremental runs: after a long pause, nothing older than retention is read.
    """
    days = entitlements.resolve()["features"].get("execution_retention_days")
    if days is None or days < 0:
        return None
    return datetime.now(UTC) - timedelta(days=days)


def is_newer(execution_id: str, watermark: str) -> bool:
    """Whether n8n created ``execution_id`` after ``watermark``.

    1.x ids are numeric strings, compared as numbers; ids that are not both numeric (2.x
    may send other strings) have no order we know of, so only the watermark itself stops.
    """
    if execution_id.isdigit() and watermark.isdigit():
        return int(execution_id) > int(watermark)
    return execution_id != watermark


def _advance_watermark(env_id: uuid.UUID, newest: str | None) -> str | None:
    """Record a completed run: the newest id and the time, never moving the mark back (a
    concurrent run may have completed first with a newer one)."""
    watermark = db.scalar(
        select(Environment.execution_watermark).where(Environment.id == env_id).with_for_update()
    )
    if newest is not None and (watermark is None or is_newer(newest, watermark)):
        watermark = newest
    db.execute(
        update(Environment)
        .where(Environment.id == env_id)
        .values(execution_watermark=watermark, last_execution_sync_at=func.now())
    )
    db.commit()
    return watermark


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
