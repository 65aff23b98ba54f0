"""Rollback from a pre-promotion snapshot (system.md §4.3): each promoted workflow is put
back in place (PUT of the snapshot's copy, its active state and tags), a workflow the
promotion created is deleted; transient n8n errors are retried with backoff; the rest go on
and each result is recorded. The environment action guard does not apply to a rollback."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import delete, func, update

from models.db import db
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import runtime_digest
from services.n8n import N8nClient, N8nNotFound
from services.n8n.errors import N8nError
from services.n8n.payload import workflow_write_body

#: Attempts per workflow, and the first pause (doubling) between them.
ATTEMPTS = 3
BACKOFF_S = 0.25

LeaseCheck = Callable[[], None]


def snapshot_entry(canonical_id: uuid.UUID, workflow: Mapping[str, Any]) -> dict[str, Any]:
    """What a pre-promotion snapshot keeps of one target workflow (the writable fields, the
    active state and the tag ids: everything a rollback puts back)."""
    return {
        "canonical_id": str(canonical_id),
        "n8n_id": str(workflow["id"]),
        "name": workflow.get("name"),
        "active": bool(workflow.get("active")),
        "tag_ids": [str(t["id"]) for t in workflow.get("tags") or [] if isinstance(t, Mapping)],
        "workflow": workflow_write_body(workflow),
    }


def restore(
    env: Environment,
    client: N8nClient,
    applied: list[dict[str, Any]],
    snapshot: Mapping[str, Mapping[str, Any]],
    *,
    lease: LeaseCheck,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Undo ``applied`` (``{"n8n_id", "action", "name"}``, in the order written) from
    ``snapshot`` (n8n id -> snapshot_entry); the result of each, last written first."""
    results = []
    restored: list[tuple[str, dict]] = []
    for row in reversed(applied):
        entry = snapshot.get(row["n8n_id"])
        try:
            if entry is None:
                _retry(lambda r=row: _delete(client, r["n8n_id"], lease), sleep)
                results.append({**row, "rollback": "deleted"})
            else:
                stored = _retry(lambda e=entry: _put_back(client, e, lease), sleep)
                restored.append((row["n8n_id"], stored))
                results.append({**row, "rollback": "restored"})
        except Exception as error:  # noqa: BLE001 - each workflow's failure is recorded, the rest go on
            results.append({**row, "rollback": "failed", "error": _message(error)})
    _record(env, restored, [r["n8n_id"] for r in results if r["rollback"] == "deleted"])
    return results


def _retry(step: Callable[[], Any], sleep: Callable[[float], None]) -> Any:
    for attempt in range(ATTEMPTS):
        try:
            return step()
        except N8nError as error:
            if not error.retryable or attempt == ATTEMPTS - 1:
                raise
            sleep(BACKOFF_S * 2**attempt)
    raise AssertionError("unreachable")


def _put_back(client: N8nClient, entry: Mapping[str, Any], lease: LeaseCheck) -> dict[str, Any]:
    workflow_id = entry["n8n_id"]
    lease()
    client.update_workflow(workflow_id, entry["workflow"])
    lease()
    client.set_workflow_tags(workflow_id, entry["tag_ids"])
    current = client.get_workflow(workflow_id)
    if bool(current.get("active")) != entry["active"]:
        lease()
        if entry["active"]:
            client.activate_workflow(workflow_id)
        else:
            client.deactivate_workflow(workflow_id)
        current = client.get_workflow(workflow_id)
    return current


def _delete(client: N8nClient, workflow_id: str, lease: LeaseCheck) -> None:
    lease()
    with contextlib.suppress(N8nNotFound):  # gone already: what the rollback wanted
        client.delete_workflow(workflow_id)


def _record(env: Environment, restored: list[tuple[str, dict]], deleted: list[str]) -> None:
    """The target's map after a rollback: restored copies cached and digested again, deleted
    ones dropped."""
    if deleted:
        db.execute(
            delete(WorkflowEnvMap).where(
                WorkflowEnvMap.environment_id == env.id,
                WorkflowEnvMap.n8n_workflow_id.in_(deleted),
            )
        )
    ctx = runtime_digest.context_for(env.id)
    for n8n_id, workflow in restored:
        db.execute(
            update(WorkflowEnvMap)
            .where(
                WorkflowEnvMap.environment_id == env.id,
                WorkflowEnvMap.n8n_workflow_id == n8n_id,
            )
            .values(
                workflow_data=workflow,
                is_active=bool(workflow.get("active")),
                env_content_hash=ctx.runtime(workflow),
                updated_at=func.now(),
            )
        )
    db.commit()


def _message(error: Exception) -> str:
    return str(error) if isinstance(error, N8nError) else type(error).__name__
