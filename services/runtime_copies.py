"""What an environment runs, as the last sync cached it: its workflow_env_map rows with their
definitions (read from n8n only for the few over the cache's size cap), and their files.

    rows = runtime_copies.rows(env.id, n8n_ids=None, linked=None)   # [RuntimeCopy]
    runtime_copies.fill_definitions(env, rows)    # fetches the uncached ones from n8n
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from models.db import db
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import environments
from services.n8n import N8nNotFound

#: Rows that stand for a workflow n8n still has.
PRESENT_STATUSES = ("linked", "untracked", "ignored")


@dataclass
class RuntimeCopy:
    """One workflow of an environment, as the cache knows it."""

    id: uuid.UUID
    n8n_id: str
    name: str | None
    status: str
    canonical_id: uuid.UUID | None
    digest: str | None
    #: The n8n definition; None until fill_definitions read one over the size cap.
    definition: dict[str, Any] | None


def rows(
    env_id: uuid.UUID,
    *,
    n8n_ids: Iterable[str] | None = None,
    canonical_ids: Iterable[uuid.UUID] | None = None,
    statuses: tuple[str, ...] = PRESENT_STATUSES,
) -> list[RuntimeCopy]:
    """The environment's present workflows (or those named), in one query, by name."""
    query = select(
        WorkflowEnvMap.id,
        WorkflowEnvMap.n8n_workflow_id,
        WorkflowEnvMap.workflow_name,
        WorkflowEnvMap.status,
        WorkflowEnvMap.canonical_id,
        WorkflowEnvMap.env_content_hash,
        WorkflowEnvMap.workflow_data,
    ).where(
        WorkflowEnvMap.environment_id == env_id,
        WorkflowEnvMap.status.in_(statuses),
        WorkflowEnvMap.is_archived.is_(False),
    )
    if n8n_ids is not None:
        query = query.where(WorkflowEnvMap.n8n_workflow_id.in_(list(n8n_ids)))
    if canonical_ids is not None:
        query = query.where(WorkflowEnvMap.canonical_id.in_(list(canonical_ids)))
    query = query.order_by(WorkflowEnvMap.workflow_name, WorkflowEnvMap.n8n_workflow_id)
    return [RuntimeCopy(*row) for row in db.execute(query)]


def fill_definitions(env: Environment, copies: list[RuntimeCopy]) -> list[RuntimeCopy]:
    """Read from n8n the definitions the cache does not hold (over its size cap); returns the
    copies n8n no longer has (left without a definition)."""
    uncached = [copy for copy in copies if copy.definition is None]
    gone = []
    if uncached:
        with environments.n8n_session(env) as client:
            for copy in uncached:
                try:
                    copy.definition = client.get_workflow(copy.n8n_id)
                except N8nNotFound:
                    gone.append(copy)
    return gone
