"""Changing links: which n8n workflow of an environment is which canonical workflow.

``set_links`` is the one write every linking path uses (unmanaged actions, onboarding's
auto-link, repo sync); the deploy writer records its own links as it creates workflows.
Whatever the links change, the digests of the environment's workflows that reference other
workflows are recomputed in the same transaction (they digest through the links).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import Text, Uuid, bindparam, case, column, func, select, update
from sqlalchemy.exc import IntegrityError

from models.db import db
from models.workflows import WorkflowEnvMap, WorkflowGitState
from services import runtime_digest
from services.bulk import json_page
from services.errors import Conflict

_LINKS = json_page(column("n8n_workflow_id", Text), column("canonical_id", Uuid))

_UNLINK = (
    update(WorkflowEnvMap)
    .where(
        WorkflowEnvMap.environment_id == bindparam("env_id"),
        WorkflowEnvMap.n8n_workflow_id.in_(select(_LINKS.c.n8n_workflow_id)),
    )
    .values(
        canonical_id=None,
        git_content_hash=None,
        status=case((WorkflowEnvMap.status == "linked", "untracked"), else_=WorkflowEnvMap.status),
        updated_at=func.now(),
    )
)

#: The aligned digest of a new link: the environment's approved copy, when it has one (a
#: runtime copy that differs from it then shows as drift, as it should).
_APPROVED = (
    select(WorkflowGitState.git_content_hash)
    .where(
        WorkflowGitState.canonical_id == _LINKS.c.canonical_id,
        WorkflowGitState.environment_id == WorkflowEnvMap.environment_id,
    )
    .scalar_subquery()
)
_LINK = (
    update(WorkflowEnvMap)
    .where(
        WorkflowEnvMap.environment_id == bindparam("env_id"),
        WorkflowEnvMap.n8n_workflow_id == _LINKS.c.n8n_workflow_id,
    )
    .values(
        canonical_id=_LINKS.c.canonical_id,
        git_content_hash=_APPROVED,
        status=case((WorkflowEnvMap.status == "untracked", "linked"), else_=WorkflowEnvMap.status),
        updated_at=func.now(),
    )
)


def set_links(env_id: uuid.UUID, links: Mapping[str, uuid.UUID | None]) -> int:
    """Link n8n workflows (by n8n id) to canonical workflows, or unlink them (None), in the
    caller's transaction. A canonical workflow already linked to another workflow of the
    environment is a Conflict (409). Returns the rows linked."""
    if not links:
        return 0
    everything = [{"n8n_workflow_id": k, "canonical_id": None} for k in links]
    linking = [{"n8n_workflow_id": k, "canonical_id": str(v)} for k, v in links.items() if v]
    try:
        with db.begin_nested():
            db.execute(_UNLINK, {"env_id": env_id, "rows": everything})
            linked = (
                db.execute(_LINK, {"env_id": env_id, "rows": linking}).rowcount if linking else 0
            )
    except IntegrityError:
        raise Conflict(
            "A canonical workflow can be linked to one workflow per environment; unlink the "
            "other one first.",
            code="already_linked",
        ) from None
    runtime_digest.recompute_environment(env_id)
    return linked
