"""The workflow matrix: canonical workflows x environments, each cell in one state.

    page = workflow_matrix.matrix(states=("drift",), environment_ids=None, page=1, limit=50)

A cell's state, from the environment's runtime copy (workflow_env_map, linked to the
canonical workflow) and its approved copy (workflow_git_state):

- ``in_sync``: the runtime copy is what was last aligned with, which is the approved copy;
- ``drift``: the runtime copy changed since it was aligned (someone edited it in n8n);
- ``out_of_date``: the runtime copy is as aligned, but the approved copy moved on (Git newer);
- ``missing``: an approved copy, but n8n lost the workflow (or it was never deployed);
- ``untracked``: linked, but the environment has no approved copy;
- ``absent``: neither (the workflow is not meant to be there).

Rows are canonical workflows by slug, paged without counting them all (a page says whether
another follows). A state filter keeps the rows with at least one cell in those states (in the
chosen environments). Both joins run on the unique (tenant, canonical, environment) indexes.
Each environment also reports how many of its workflows are untracked (linked to nothing).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, text

from models.db import current_tenant, db

STATES = ("in_sync", "drift", "out_of_date", "missing", "untracked", "absent")

_STATE = """
    CASE
      WHEN m.id IS NULL THEN CASE WHEN g.id IS NULL THEN 'absent' ELSE 'missing' END
      WHEN m.status IN ('missing', 'deleted') THEN 'missing'
      WHEN g.id IS NULL THEN 'untracked'
      WHEN m.env_content_hash IS DISTINCT FROM m.git_content_hash THEN 'drift'
      WHEN m.git_content_hash IS DISTINCT FROM g.git_content_hash THEN 'out_of_date'
      ELSE 'in_sync'
    END
"""
#: Environment e's runtime and approved copy of canonical workflow c: one lookup each on the
#: unique (tenant, canonical, environment) indexes (LIMIT keeps the planner from turning them
#: into hash joins over every row of the tenant).
_COPIES = """
      LEFT JOIN LATERAL (
        SELECT id, status, n8n_workflow_id, workflow_name, is_active, env_content_hash,
               git_content_hash
          FROM workflow_env_map
         WHERE tenant_id = e.tenant_id AND canonical_id = c.id AND environment_id = e.id
         LIMIT 1) m ON true
      LEFT JOIN LATERAL (
        SELECT id, git_content_hash, last_commit_sha
          FROM workflow_git_state
         WHERE tenant_id = e.tenant_id AND canonical_id = c.id AND environment_id = e.id
         LIMIT 1) g ON true
"""
_ENVS = "e.tenant_id = :tenant AND e.id IN :envs"
_PAGE_SQL = """
    SELECT c.id, c.name, c.canonical_slug
      FROM canonical_workflows c
     WHERE c.tenant_id = :tenant AND c.deleted_at IS NULL
       AND (CAST(:name AS text) IS NULL OR c.name ILIKE '%' || :name || '%')
       {filtered}
     ORDER BY c.canonical_slug
     LIMIT :limit OFFSET :offset
"""
#: Walks canonical workflows in slug order and stops at a full page: dense states cost a
#: page's worth of index lookups, not the whole matrix.
_STATE_FILTER = (
    f"AND EXISTS (SELECT 1 FROM environments e {_COPIES} WHERE {_ENVS} AND ({_STATE}) IN :states)"
)
_PAGE = text(_PAGE_SQL.format(filtered=""))
_PAGE_FILTERED = text(_PAGE_SQL.format(filtered=_STATE_FILTER)).bindparams(
    bindparam("envs", expanding=True), bindparam("states", expanding=True)
)
_PAGE_CELLS = text(f"""
    SELECT c.id AS canonical_id, e.id AS environment_id, m.id AS workflow_id,
           m.n8n_workflow_id AS n8n_id, m.workflow_name, m.is_active,
           m.env_content_hash, g.git_content_hash AS approved_hash, g.last_commit_sha,
           {_STATE} AS state
      FROM canonical_workflows c CROSS JOIN environments e {_COPIES}
     WHERE c.tenant_id = :tenant AND {_ENVS} AND c.id IN :ids
""").bindparams(bindparam("envs", expanding=True), bindparam("ids", expanding=True))
_ENVIRONMENTS = text("""
    SELECT e.id, e.name, e.environment_class,
           (SELECT count(*) FROM workflow_env_map m
             WHERE m.tenant_id = e.tenant_id AND m.environment_id = e.id
               AND m.status = 'untracked') AS untracked
      FROM environments e
     WHERE e.tenant_id = :tenant
     ORDER BY e.name
""")


def matrix(
    *,
    states: tuple[str, ...] = (),
    environment_ids: list[uuid.UUID] | None = None,
    name: str | None = None,
    page: int = 1,
    limit: int = 50,
) -> dict[str, Any]:
    """One page of the matrix: the environments (chosen ones, by name), and per canonical
    workflow its cells; ``has_more`` says whether another page follows."""
    tenant = current_tenant()
    envs = [e for e in environments() if environment_ids is None or e["id"] in environment_ids]
    env_ids = [e["id"] for e in envs]
    if not env_ids:
        return {"environments": [], "rows": [], "has_more": False}
    params = {
        "tenant": tenant,
        "name": name or None,
        "limit": limit + 1,
        "offset": (page - 1) * limit,
    }
    if states:
        found = db.execute(
            _PAGE_FILTERED, {**params, "envs": env_ids, "states": list(states)}
        ).all()
    else:
        found = db.execute(_PAGE, params).all()
    has_more = len(found) > limit
    found = found[:limit]
    cells = _cells(tenant, env_ids, [row.id for row in found])
    return {
        "environments": envs,
        "rows": [
            {"canonical_id": r.id, "name": r.name, "slug": r.canonical_slug, "cells": cells[r.id]}
            for r in found
        ],
        "has_more": has_more,
    }


def environments() -> list[dict[str, Any]]:
    """The tenant's environments by name, each with its count of untracked workflows."""
    return [dict(e._mapping) for e in db.execute(_ENVIRONMENTS, {"tenant": current_tenant()})]


def row_of(canonical_id: uuid.UUID) -> dict[str, Any]:
    """One canonical workflow's row: every environment (by name) and its cell in each."""
    envs = environments()
    cells = _cells(current_tenant(), [e["id"] for e in envs], [canonical_id])
    return {"environments": envs, "cells": cells[canonical_id]}


def _cells(
    tenant: uuid.UUID, env_ids: list[uuid.UUID], ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, dict]]:
    """The cells of canonical workflows ``ids`` in environments ``env_ids``, by environment."""
    cells: dict[uuid.UUID, dict[str, dict]] = {canonical_id: {} for canonical_id in ids}
    if ids and env_ids:
        for cell in db.execute(_PAGE_CELLS, {"tenant": tenant, "envs": env_ids, "ids": ids}):
            cells[cell.canonical_id][str(cell.environment_id)] = _cell(cell)
    return cells


def _cell(cell) -> dict[str, Any]:
    diff = None
    if cell.state in ("drift", "out_of_date"):
        diff = (
            f"/api/v1/canonical-workflows/{cell.canonical_id}/diff"
            f"?left=git:{cell.environment_id}&right=env:{cell.environment_id}"
        )
    return {
        "state": cell.state,
        "workflow_id": cell.workflow_id,
        "n8n_id": cell.n8n_id,
        "name": cell.workflow_name,
        "active": cell.is_active,
        "runtime_digest": cell.env_content_hash,
        "approved_digest": cell.approved_hash,
        "commit": cell.last_commit_sha,
        "diff": diff,
    }
