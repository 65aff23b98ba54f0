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

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB

from models.db import current_tenant, db
from models.environments import Environment
from models.executions import Execution
from services import entitlements, environments, execution_gaps, rollup_maintenance
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


#: Executions deleted, and their contribution taken off the roll-ups, in one statement.
_DELETE = text(
    f"""
    WITH gone AS (
        DELETE FROM executions
         WHERE tenant_id = CAST(:tenant_id AS uuid)
           AND environment_id = CAST(:environment_id AS uuid)
           AND n8n_execution_id = ANY(CAST(:ids AS text[]))
        RETURNING {rollup_maintenance.CHANGED_COLUMNS}
    ), changes AS (
        SELECT -1 AS sign, {rollup_maintenance.CHANGED_COLUMNS} FROM gone
    ), {rollup_maintenance.delta_ctes()}
    SELECT (SELECT count(*) FROM gone) AS deleted, {rollup_maintenance.STALE_ARRAYS}
    """
)


def _delete(env: Environment, execution_ids: list[str]) -> int:
    if not execution_ids:
        return 0
    result = db.execute(
        _DELETE, {"tenant_id": env.tenant_id, "environment_id": env.id, "ids": execution_ids}
    ).one()
    rollup_maintenance.repair(env.tenant_id, env.id, result.stale_workflows, result.stale_days)
    return result.deleted


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


#: Executions named from the workflow map, and the (workflow, day) pairs whose roll-ups then
#: need their names recomputed (rows without a start are in no roll-up).
_NAME_UNNAMED = text(
    f"""
    WITH named AS (
        UPDATE executions e SET workflow_name = m.workflow_name, updated_at = now()
          FROM workflow_env_map m
         WHERE e.tenant_id = CAST(:tenant_id AS uuid)
           AND e.environment_id = CAST(:environment_id AS uuid) AND e.workflow_name IS NULL
           AND m.tenant_id = CAST(:tenant_id AS uuid)
           AND m.environment_id = CAST(:environment_id AS uuid)
           AND m.n8n_workflow_id = e.workflow_id AND m.workflow_name IS NOT NULL
        RETURNING e.workflow_id, date_bin('1 day', e.started_at, TIMESTAMPTZ 'epoch') AS day
    ), stale AS (
        SELECT DISTINCT workflow_id, day FROM named WHERE day IS NOT NULL
    )
    SELECT (SELECT count(*) FROM named) AS named, {rollup_maintenance.STALE_ARRAYS}
    """
)


def name_unnamed(env_id: uuid.UUID) -> int:
    """Give executions ingested before their workflow's first sync that workflow's name (the
    sync calls this once workflow_env_map is up to date), and their days' roll-ups; not
    committed."""
    tenant_id = current_tenant()
    result = db.execute(_NAME_UNNAMED, {"tenant_id": tenant_id, "environment_id": env_id}).one()
    rollup_maintenance.repair(tenant_id, env_id, result.stale_workflows, result.stale_days)
    return result.named


# --- the upsert ----------------------------------------------------------------------------


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


#: Columns a re-read replaces outright...
_REPLACED = (
    "workflow_id",
    "status",
    "normalized_status",
    "started_at",
    "finished_at",
    "execution_time",
    "mode",
    "retry_of",
)
#: ... and those it keeps when it has none: list items carry neither run data nor (sometimes)
#: a known name.
_KEPT = ("workflow_name", "error_message", "error_node")
_NEW_VALUES = {
    **{name: f"EXCLUDED.{name}" for name in _REPLACED},
    **{name: f"coalesce(EXCLUDED.{name}, executions.{name})" for name in _KEPT},
}

#: One page in one statement: the page upserted (names looked up in workflow_env_map;
#: unchanged rows left unwritten), the rows it replaced as they were (``prior``), and the
#: difference added to the roll-ups (services/rollup_maintenance.py). The page travels as one
#: JSON array.
_UPSERT = text(
    f"""
    WITH page AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset(:rows) AS page(
            n8n_execution_id text, workflow_id text, status text, normalized_status text,
            started_at timestamptz, finished_at timestamptz, mode text, retry_of text,
            error_message text, error_node text)
    ), written AS (
        INSERT INTO executions (tenant_id, environment_id, n8n_execution_id, workflow_id,
            workflow_name, status, normalized_status, started_at, finished_at, execution_time,
            error_message, error_node, mode, retry_of)
        SELECT CAST(:tenant_id AS uuid), CAST(:environment_id AS uuid), p.n8n_execution_id,
               p.workflow_id, m.workflow_name, p.status, p.normalized_status, p.started_at,
               p.finished_at,
               round(extract(epoch FROM p.finished_at - p.started_at) * 1000)::integer,
               p.error_message, p.error_node, p.mode, p.retry_of
          FROM page p
          LEFT JOIN workflow_env_map m
            ON m.tenant_id = CAST(:tenant_id AS uuid)
           AND m.environment_id = CAST(:environment_id AS uuid)
           AND m.n8n_workflow_id = p.workflow_id
        ON CONFLICT (tenant_id, environment_id, n8n_execution_id) DO UPDATE SET
            {", ".join(f"{name} = {value}" for name, value in _NEW_VALUES.items())},
            updated_at = now()
        WHERE {
        " OR ".join(
            f"executions.{name} IS DISTINCT FROM {value}" for name, value in _NEW_VALUES.items()
        )
    }
        RETURNING {rollup_maintenance.CHANGED_COLUMNS}, executions.xmax = 0 AS inserted
    ), prior AS (
        -- The replaced rows as they were: every part of a statement reads the snapshot taken
        -- before its writes. Looked up one by one on the primary key (LIMIT keeps the planner
        -- from scanning the tenant's rows when its statistics lag behind a new environment).
        -- A version this statement did not replace (its xmax is another transaction's) was
        -- changed by a concurrent writer first: what it was then is unknown here.
        SELECT old.*, old.xmax = pg_current_xact_id()::xid AS replaced FROM written
         CROSS JOIN LATERAL (SELECT {rollup_maintenance.CHANGED_COLUMNS}, xmax FROM executions
                              WHERE executions.id = written.id LIMIT 1) AS old
         WHERE NOT written.inserted
    ), changes AS (
        SELECT 1 AS sign, {rollup_maintenance.CHANGED_COLUMNS} FROM written
        UNION ALL
        SELECT -1, {rollup_maintenance.CHANGED_COLUMNS} FROM prior WHERE replaced
    ), raced AS (
        -- Rows a concurrent writer inserted or changed after this statement's snapshot: their
        -- (workflow, day) are recomputed.
        SELECT workflow_id, started_at FROM written
         WHERE NOT inserted AND id NOT IN (SELECT id FROM prior WHERE replaced)
        UNION ALL
        SELECT workflow_id, started_at FROM prior WHERE NOT replaced
    ), {rollup_maintenance.delta_ctes(also_stale="raced")}
    SELECT (SELECT count(*) FROM written WHERE inserted) AS inserted,
           (SELECT count(*) FROM written) AS written, {rollup_maintenance.STALE_ARRAYS}
    """
).bindparams(bindparam("rows", type_=JSONB))


#: This transaction's commit returns before its WAL reaches the disk (see upsert_page).
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")


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
    # A page's commit need not wait for its WAL flush: what a crash could lose is only the
    # tail since the last durable commit (WAL is written in order), and with it the job's
    # own progress, so the page is read from n8n again and upserted again (idempotent).
    db.execute(_ASYNC_COMMIT)
    result = db.execute(
        _UPSERT,
        {"tenant_id": env.tenant_id, "environment_id": env.id, "rows": list(rows.values())},
    ).one()
    rollup_maintenance.repair(env.tenant_id, env.id, result.stale_workflows, result.stale_days)
    return result.inserted, result.written - result.inserted


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
