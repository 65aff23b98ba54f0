"""Workflow sync: one environment's workflows into workflow_env_map, a page per statement.

n8n pages workflows by offset with no stable order, so a workflow can be skipped or repeated
while the instance changes: upserts are idempotent, and a workflow absent from a complete
listing is marked missing only after a direct read confirms it is gone. A listing that fails
half-way marks nothing missing.

Each workflow's env_content_hash is the runtime digest of services/runtime_digest.py (the
environment's links, credential keys and the tenant's ignore rules), read once per sync.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    Text,
    all_,
    bindparam,
    case,
    column,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from jobs.core import tenant_connection
from models.db import db
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import credentials, environments, execution_writes, runtime_digest
from services.bulk import json_page
from services.n8n import N8nClient, N8nNotFound
from services.progress import Progress, no_progress
from services.runtime_digest import DigestContext
from services.workflow_digest import tag_names

#: Workflows per listing page: n8n's maximum.
PAGE_SIZE = 250
#: Largest definition cached in workflow_env_map, in bytes of JSON; bigger ones are not kept.
MAX_CACHED_BYTES = 2 * 1024 * 1024


def sync_workflows(env_id: uuid.UUID, *, progress: Progress = no_progress) -> dict:
    """List every workflow of the environment and bring workflow_env_map up to date."""
    env = environments.get(env_id)
    ctx = runtime_digest.context_for(env.id)
    seen: set[str] = set()
    with environments.n8n_session(env) as client, _PageWriter(env, ctx) as writer:
        listing = client.iter_workflows(page_size=PAGE_SIZE, exclude_pinned_data=True)
        for page in listing:
            writer.write(page)
            seen.update(str(workflow["id"]) for workflow in page)
            progress(current=len(seen), message=f"{len(seen)} workflows listed")
        written = writer.finish()
        # The listing is complete: only now may absence mean anything.
        missing, reappeared = _confirm_absent(env, client, seen)
    written += _upsert(env, _rows(reappeared, ctx))
    marked = _mark_missing(env, missing)
    execution_writes.name_unnamed(env.id)
    db.execute(update(Environment).where(Environment.id == env.id).values(last_sync_at=func.now()))
    db.commit()
    return {
        "workflows": len(seen) + len(reappeared),
        "written": written,
        "unchanged": len(seen) + len(reappeared) - written,
        "missing": marked,
    }


def _row(workflow: dict[str, Any], ctx: DigestContext) -> dict[str, Any]:
    size = len(orjson.dumps(workflow))
    return {
        "n8n_workflow_id": str(workflow["id"]),
        "workflow_name": workflow.get("name"),
        "workflow_data": workflow if size <= MAX_CACHED_BYTES else None,
        "workflow_data_bytes": size,
        "env_content_hash": ctx.runtime(workflow),
        "n8n_updated_at": workflow.get("updatedAt"),
        "is_active": bool(workflow.get("active")),
        "is_archived": bool(workflow.get("isArchived")),
        "tags": tag_names(workflow),
        "credential_refs": credentials.references(workflow),
    }


#: One page of workflows as sent to PostgreSQL (see services/bulk.py).
_PAGE = json_page(
    column("n8n_workflow_id", Text),
    column("workflow_name", Text),
    column("workflow_data", JSONB),
    column("workflow_data_bytes", Integer),
    column("env_content_hash", Text),
    column("n8n_updated_at", DateTime(timezone=True)),
    column("is_active", Boolean),
    column("is_archived", Boolean),
    column("tags", JSONB),
    column("credential_refs", JSONB),
)


def _upsert_statement():
    """INSERT ... SELECT from the page ON CONFLICT DO UPDATE only where something changed;
    built once."""
    table = WorkflowEnvMap.__table__
    source = select(
        bindparam("tenant_id"),
        bindparam("environment_id"),
        _PAGE.c.n8n_workflow_id,
        _PAGE.c.workflow_name,
        _PAGE.c.workflow_data,
        _PAGE.c.workflow_data_bytes,
        _PAGE.c.env_content_hash,
        _PAGE.c.n8n_updated_at,
        _PAGE.c.is_active,
        _PAGE.c.is_archived,
        _PAGE.c.tags,
        _PAGE.c.credential_refs,
    ).select_from(_PAGE)
    columns = [
        "tenant_id",
        "environment_id",
        "n8n_workflow_id",
        "workflow_name",
        "workflow_data",
        "workflow_data_bytes",
        "env_content_hash",
        "n8n_updated_at",
        "is_active",
        "is_archived",
        "tags",
        "credential_refs",
    ]
    # Python-side defaults (a uuid4 for id) would be one value for every row.
    insert = pg_insert(table).from_select(columns, source, include_defaults=False)
    new = insert.excluded
    copied = columns[3:]
    # ignored and deleted are the user's statuses: no sync overrides them.
    user_owned = table.c.status.in_(("ignored", "deleted"))
    changed = or_(
        table.c.status == "missing",
        *(table.c[name].is_distinct_from(new[name]) for name in copied if name != "workflow_data"),
    )
    return insert.on_conflict_do_update(
        index_elements=["tenant_id", "environment_id", "n8n_workflow_id"],
        set_={
            **{name: new[name] for name in copied},
            "status": case(
                (user_owned, table.c.status),
                (table.c.canonical_id.is_not(None), "linked"),
                else_="untracked",
            ),
            "missing_since": case((user_owned, table.c.missing_since), else_=None),
            "updated_at": func.now(),
        },
        where=changed,
    ).returning(table.c.id)


_UPSERT = _upsert_statement()


def _rows(workflows: list[dict[str, Any]], ctx: DigestContext) -> list[dict[str, Any]]:
    # Keyed by id: offset paging can repeat a workflow, and a row twice in one statement
    # is an error for ON CONFLICT.
    return list({str(w["id"]): _row(w, ctx) for w in workflows}.values())


def _params(env: Environment, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tenant_id": env.tenant_id, "environment_id": env.id, "rows": rows}


def _upsert(env: Environment, rows: list[dict[str, Any]]) -> int:
    """One statement for a page in the session's transaction; returns the rows inserted or
    changed (the rest cost no write)."""
    return len(db.execute(_UPSERT, _params(env, rows)).all()) if rows else 0


class _PageWriter:
    """Digests and writes pages behind the listing: each page commits in its own short
    transaction on a connection of its own while the caller fetches the next one (n8n
    produces one page while we digest and PostgreSQL stores the previous). One page in
    flight, in order."""

    def __init__(self, env: Environment, ctx: DigestContext) -> None:
        self._env = env
        self._ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-writer")
        self._pending: Future | None = None
        self._written = 0

    def __enter__(self) -> _PageWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        # Even when the listing failed: let the page in flight finish before returning.
        self._pool.shutdown(wait=True)

    def write(self, page: list[dict[str, Any]]) -> None:
        self._collect()
        self._pending = self._pool.submit(self._store, page)

    def finish(self) -> int:
        self._collect()
        return self._written

    def _collect(self) -> None:
        if self._pending is not None:
            self._written += self._pending.result()  # re-raises the writer's error here
            self._pending = None

    def _store(self, page: list[dict[str, Any]]) -> int:
        params = _params(self._env, _rows(page, self._ctx))
        with tenant_connection(self._env.tenant_id) as conn:
            return len(conn.execute(_UPSERT, params).all())


def _confirm_absent(
    env: Environment, client: N8nClient, seen: set[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Of the known workflows the listing lacked: (confirmed gone, found after all)."""
    candidates = db.scalars(
        select(WorkflowEnvMap.n8n_workflow_id).where(
            WorkflowEnvMap.environment_id == env.id,
            WorkflowEnvMap.status.in_(("linked", "untracked")),
            # One array parameter, however many workflows were listed.
            WorkflowEnvMap.n8n_workflow_id != all_(bindparam("seen", list(seen), ARRAY(Text))),
        )
    ).all()
    gone, found = [], []
    for workflow_id in candidates:
        try:
            found.append(client.get_workflow(workflow_id))
        except N8nNotFound:
            gone.append(workflow_id)
    return gone, found


def _mark_missing(env: Environment, workflow_ids: list[str]) -> int:
    if not workflow_ids:
        return 0
    return db.execute(
        update(WorkflowEnvMap)
        .where(
            WorkflowEnvMap.environment_id == env.id,
            WorkflowEnvMap.n8n_workflow_id.in_(workflow_ids),
            WorkflowEnvMap.status.in_(("linked", "untracked")),
        )
        .values(status="missing", missing_since=datetime.now(UTC))
    ).rowcount
