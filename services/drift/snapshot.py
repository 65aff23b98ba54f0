"""What differed, for an incident's immutable snapshot and its timeline: per drifted workflow
the structural diff (services/workflow_diff.py) from the approved copy to what n8n runs. The
digest decided that they differ (Decision 3); the diff only explains how.

    diffs(env, affected) -> {canonical id: diff dict}
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select

from models.db import db
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import approved, runtime_digest
from services.workflow_diff import Version, diff_workflows

log = logging.getLogger(__name__)

#: Workflows whose diff a snapshot carries; the rest are listed without one.
MAX_DIFFS = 50


def diffs(env: Environment, affected: list[dict[str, Any]]) -> dict[str, Any]:
    """The diff of each modified workflow of ``affected`` (up to MAX_DIFFS); a workflow whose
    versions cannot be read is listed with the reason instead."""
    modified = [a for a in affected if a.get("kind") == "modified"][:MAX_DIFFS]
    if not modified:
        return {}
    ids = [uuid.UUID(a["canonical_id"]) for a in modified]
    try:
        files = approved.load_files(env, approved.copies_for(env.id, ids).values())
    except Exception as error:  # noqa: BLE001 - the snapshot says why it has no diffs
        log.warning("drift snapshot of %s: approved copies unreadable: %s", env.id, error)
        return {str(i): {"unavailable": "The approved copy could not be read."} for i in ids}
    runtime = dict(
        db.execute(
            select(WorkflowEnvMap.canonical_id, WorkflowEnvMap.workflow_data).where(
                WorkflowEnvMap.environment_id == env.id, WorkflowEnvMap.canonical_id.in_(ids)
            )
        ).all()
    )
    ctx = runtime_digest.context_for(env.id)
    found: dict[str, Any] = {}
    for canonical_id in ids:
        file, workflow = files.get(canonical_id), runtime.get(canonical_id)
        if file is None or workflow is None:
            found[str(canonical_id)] = {
                "unavailable": "The running definition is over the cache's size cap."
                if file is not None
                else "The approved copy is missing."
            }
            continue
        found[str(canonical_id)] = diff_workflows(
            Version(file, credential_key=ctx.credential_key),
            Version(workflow, workflow_ref=ctx.workflow_ref, credential_key=ctx.credential_key),
            ignore_rules=ctx.ignore_rules,
        ).as_dict()
    return found
