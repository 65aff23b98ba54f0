"""The statements that write executions: a page upserted, executions deleted, names filled in
later; each one also adds its difference to the roll-ups in the same statement
(services/rollup_maintenance.py) and repairs what a difference cannot settle."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from models.db import current_tenant, db
from models.environments import Environment
from services import rollup_maintenance

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


#: The workflow_id of an execution listed without one (n8n always names it): not '', the
#: roll-ups' ENVIRONMENT_WIDE, where it would be summed as the environment; never an n8n id.
NO_WORKFLOW = "-"


def normalize_status(status: str | None) -> str:
    """Our status for n8n's (see NORMALIZED_STATUS)."""
    return NORMALIZED_STATUS.get(status or "", "error")


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


def delete(env: Environment, execution_ids: list[str]) -> int:
    """Delete executions by n8n id and take them off the roll-ups (no commit)."""
    if not execution_ids:
        return 0
    result = db.execute(
        _DELETE, {"tenant_id": env.tenant_id, "environment_id": env.id, "ids": execution_ids}
    ).one()
    rollup_maintenance.repair(env.tenant_id, env.id, result.stale_workflows, result.stale_days)
    return result.deleted


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
            "workflow_id": str(execution.get("workflowId") or NO_WORKFLOW),
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
