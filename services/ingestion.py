"""Execution ingestion: an environment's executions, incrementally, from n8n into ``executions``.

Ingestion pages n8n's executions newest first (ordered by id) down to the environment's
watermark, the newest id a completed run ingested; a first run stops at the plan's retention
window instead. Each page is one upsert statement that leaves unchanged rows unwritten, so
re-reading a page adds and changes nothing. n8n leaves executions in flight out of its
listing, so the ids it skipped below the newest one are tracked and read by id
(services/execution_gaps.py). Executions seen unfinished in an earlier run are re-read by id,
since n8n changes them after first sight. Run data (megabytes at times) is fetched only for
failures, once each: a row already stored as a failure is not fetched again. The watermark
moves only when a run completes, so a run that fails half-way skips nothing: the next one
reads the same range again, cheaply, because upserts are idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Text,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.db import db
from models.environments import Environment
from models.executions import Execution
from models.workflows import WorkflowEnvMap
from services import entitlements, environments, execution_gaps
from services import execution_rollups as rollups
from services.bulk import json_page
from services.errors import Unavailable
from services.n8n import N8nClient, N8nError, N8nNotFound, N8nResponseTooLarge
from services.progress import Progress, no_progress
from services.url_safety import UnsafeUrlError

#: Executions per listing page: n8n's maximum.
PAGE_SIZE = 250
#: Longest error message kept, in characters: n8n's messages can embed whole payloads.
MAX_ERROR_MESSAGE_CHARS = 4000

#: n8n's status -> our normalized status. Anything else ("unknown", or a status a later n8n
#: invents) counts as an error: an execution we cannot classify is not a success.
NORMALIZED_STATUS = {
    "success": "success",
    "error": "error",
    "crashed": "error",
    # A run someone stopped did not do its work: it counts against the success rate.
    "canceled": "error",
    # "new" is queued and not started yet: unfinished, like running.
    "new": "running",
    "running": "running",
    "waiting": "waiting",
}


def normalize_status(status: str | None) -> str:
    """Our status for n8n's (see NORMALIZED_STATUS)."""
    return NORMALIZED_STATUS.get(status or "", "error")


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
    """List newest first down to the watermark; the ids seen."""
    seen: set[str] = set()
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
        _store(client, env, fresh, run, progress)
        progress(current=run.listed, message=f"page {run.pages}: {run.listed} executions read")
        if len(fresh) < len(page):
            break
    else:
        run.floor = run.watermark or "0"
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
        run.vanished += _delete(env, gone)
        db.commit()


def _store(client: N8nClient, env: Environment, page: list[dict], run: _Run, progress) -> None:
    """Fetch the details of the page's new failures, upsert the page, commit."""
    details = _failure_details(client, env, page, run, progress)
    inserted, updated = upsert_page(env, page, details)
    run.inserted += inserted
    run.updated += updated
    db.commit()


def _failure_details(
    client: N8nClient, env: Environment, page: list[dict], run: _Run, progress
) -> dict[str, tuple[str | None, str | None]]:
    """{id: (error message, node)} for the page's failures not yet stored as failures."""
    failed = [e["id"] for e in page if normalize_status(e.get("status")) == "error"]
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


def _delete(env: Environment, execution_ids: list[str]) -> int:
    if not execution_ids:
        return 0
    table = Execution.__table__
    hours = db.scalars(
        table.delete()
        .where(table.c.environment_id == env.id, table.c.n8n_execution_id.in_(execution_ids))
        .returning(rollups.hour_of(table.c.started_at))
    ).all()
    rollups.refresh(env.tenant_id, env.id, hours)
    return len(hours)


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


def name_unnamed(env_id: uuid.UUID) -> int:
    """Give executions ingested before their workflow's first sync that workflow's name (the
    sync calls this once workflow_env_map is up to date); not committed."""
    names = WorkflowEnvMap.__table__.c
    table = Execution.__table__
    return db.execute(
        update(table)
        .where(
            table.c.environment_id == env_id,
            table.c.workflow_name.is_(None),
            names.environment_id == env_id,
            names.n8n_workflow_id == table.c.workflow_id,
            names.workflow_name.is_not(None),
        )
        .values(workflow_name=names.workflow_name, updated_at=func.now())
    ).rowcount


# --- the upsert ----------------------------------------------------------------------------


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


#: One page of rows as sent to PostgreSQL: a JSON array, expanded by jsonb_to_recordset.
_PAGE = json_page(
    column("n8n_execution_id", Text),
    column("workflow_id", Text),
    column("status", Text),
    column("normalized_status", Text),
    column("started_at", DateTime(timezone=True)),
    column("finished_at", DateTime(timezone=True)),
    column("mode", Text),
    column("retry_of", Text),
    column("error_message", Text),
    column("error_node", Text),
)


def _upsert_statement():
    """INSERT ... SELECT from the page (names looked up in workflow_env_map in the same
    statement) ON CONFLICT DO UPDATE only where a value changed; built once, cached."""
    table = Execution.__table__
    names = WorkflowEnvMap.__table__.c
    tenant_id, environment_id = bindparam("tenant_id"), bindparam("environment_id")
    duration_ms = func.round(
        func.extract("epoch", _PAGE.c.finished_at - _PAGE.c.started_at) * 1000
    ).cast(table.c.execution_time.type)
    source = select(
        tenant_id,
        environment_id,
        _PAGE.c.n8n_execution_id,
        _PAGE.c.workflow_id,
        names.workflow_name,
        _PAGE.c.status,
        _PAGE.c.normalized_status,
        _PAGE.c.started_at,
        _PAGE.c.finished_at,
        duration_ms,
        _PAGE.c.error_message,
        _PAGE.c.error_node,
        _PAGE.c.mode,
        _PAGE.c.retry_of,
    ).select_from(
        _PAGE.outerjoin(
            WorkflowEnvMap.__table__,
            and_(
                names.tenant_id == tenant_id,
                names.environment_id == environment_id,
                names.n8n_workflow_id == _PAGE.c.workflow_id,
            ),
        )
    )
    insert = pg_insert(table).from_select(
        [
            "tenant_id",
            "environment_id",
            "n8n_execution_id",
            "workflow_id",
            "workflow_name",
            "status",
            "normalized_status",
            "started_at",
            "finished_at",
            "execution_time",
            "error_message",
            "error_node",
            "mode",
            "retry_of",
        ],
        source,
        # Python-side defaults (a uuid4 for id) would be one value for every row.
        include_defaults=False,
    )
    new = insert.excluded
    values = {
        name: new[name]
        for name in (
            "workflow_id",
            "status",
            "normalized_status",
            "started_at",
            "finished_at",
            "execution_time",
            "mode",
            "retry_of",
        )
    }
    # List items carry neither run data nor (sometimes) a known name: keep what we have.
    for name in ("workflow_name", "error_message", "error_node"):
        values[name] = func.coalesce(new[name], table.c[name])
    changed = or_(*(table.c[name].is_distinct_from(value) for name, value in values.items()))
    return insert.on_conflict_do_update(
        index_elements=["tenant_id", "environment_id", "n8n_execution_id"],
        set_={**values, "updated_at": func.now()},
        where=changed,
    ).returning(
        literal_column("executions.xmax = 0").label("inserted"),
        rollups.hour_of(table.c.started_at).label("hour"),
    )


_UPSERT = _upsert_statement()


def upsert_page(
    env: Environment,
    executions: Sequence[Mapping[str, Any]],
    details: Mapping[str, tuple[str | None, str | None]] | None = None,
) -> tuple[int, int]:
    """Upsert n8n execution objects in one statement (no commit); (inserted, updated).

    ``details`` maps ids to (error message, node) fetched with run data.
    """
    rows: dict[str, dict[str, Any]] = {}
    details = details or {}
    for execution in executions:
        execution_id = str(execution["id"])
        message, node = details.get(execution_id, (None, None))
        # Keyed by id: a row twice in one statement would be an error in ON CONFLICT.
        rows[execution_id] = {
            "n8n_execution_id": execution_id,
            "workflow_id": str(execution.get("workflowId") or ""),
            "status": execution.get("status"),
            "normalized_status": normalize_status(execution.get("status")),
            "started_at": execution.get("startedAt"),
            "finished_at": execution.get("stoppedAt"),
            "mode": execution.get("mode"),
            "retry_of": _text(execution.get("retryOf")),
            "error_message": message,
            "error_node": node,
        }
    if not rows:
        return 0, 0
    written = db.execute(
        _UPSERT,
        {"tenant_id": env.tenant_id, "environment_id": env.id, "rows": list(rows.values())},
    ).all()
    rollups.refresh(env.tenant_id, env.id, (row.hour for row in written))
    inserted = sum(row.inserted for row in written)
    return inserted, len(written) - inserted


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
