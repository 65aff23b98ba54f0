"""Activate or deactivate workflows in n8n through the platform (one or in bulk), guarded by
the environment action guard; each result is recorded in workflow_env_map and audited. An
n8n refusal (a workflow without a trigger) is that workflow's result, not the batch's."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update

from models.db import db
from models.workflows import WorkflowEnvMap
from services import audit, environments, policy
from services.errors import NotFound
from services.identity import Principal
from services.n8n import N8nBadRequest, N8nNotFound

#: Most workflows one bulk request may switch (each is one n8n call).
MAX_BULK = 100


def set_active(
    env_id: uuid.UUID, workflow_ids: list[uuid.UUID], *, active: bool, principal: Principal
) -> list[dict[str, Any]]:
    """Switch each workflow (workflow_env_map ids) on or off; the result of each."""
    env = environments.get(env_id)
    decision = policy.enforce(env, policy.ACTIVATE, principal)
    found = {
        row.id: row
        for row in db.scalars(
            select(WorkflowEnvMap).where(
                WorkflowEnvMap.environment_id == env.id, WorkflowEnvMap.id.in_(workflow_ids)
            )
        )
    }
    missing = [str(i) for i in workflow_ids if i not in found]
    if missing:
        raise NotFound("No such workflow in this environment.", workflow_ids=missing)
    db.commit()  # no transaction stays open while n8n answers
    results = []
    with environments.n8n_session(env) as client:
        for workflow_id in workflow_ids:
            row = found[workflow_id]
            results.append(_switch(client, row, active))
    changed = [r for r in results if r["ok"]]
    if changed:
        db.execute(
            update(WorkflowEnvMap)
            .where(WorkflowEnvMap.id.in_([uuid.UUID(r["id"]) for r in changed]))
            .values(is_active=active, updated_at=func.now())
        )
    audit.record(
        "workflow.activated" if active else "workflow.deactivated",
        resource_type="environment",
        resource_id=env.id,
        new={"results": results, "warnings": list(decision.warnings)},
    )
    db.commit()
    return results


def _switch(client, row: WorkflowEnvMap, active: bool) -> dict[str, Any]:
    result = {"id": str(row.id), "n8n_workflow_id": row.n8n_workflow_id, "active": active}
    try:
        if active:
            client.activate_workflow(row.n8n_workflow_id)
        else:
            client.deactivate_workflow(row.n8n_workflow_id)
    except (N8nBadRequest, N8nNotFound) as error:
        return {**result, "ok": False, "error": error.n8n_message or str(error)}
    return {**result, "ok": True, "error": None}
