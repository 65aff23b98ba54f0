"""An environment's workflows as the last sync saw them; users ignore or acknowledge them."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select, update

from models.db import db
from models.workflows import WorkflowEnvMap
from services import audit, environments
from services.errors import Conflict, NotFound


def list_query(
    env_id: uuid.UUID,
    *,
    status: tuple[str, ...] = (),
    active: bool | None = None,
    name: str | None = None,
    tag: str | None = None,
) -> Select:
    environments.get(env_id)  # 404 for an environment the tenant cannot see
    query = select(WorkflowEnvMap).where(WorkflowEnvMap.environment_id == env_id)
    if status:
        query = query.where(WorkflowEnvMap.status.in_(status))
    if active is not None:
        query = query.where(WorkflowEnvMap.is_active == active)
    if name:
        query = query.where(WorkflowEnvMap.workflow_name.icontains(name, autoescape=True))
    if tag:
        query = query.where(WorkflowEnvMap.tags.contains([tag]))
    return query.order_by(func.lower(WorkflowEnvMap.workflow_name), WorkflowEnvMap.id)


def get(env_id: uuid.UUID, workflow_id: uuid.UUID) -> WorkflowEnvMap:
    mapping = db.get(WorkflowEnvMap, workflow_id)
    if mapping is None or mapping.environment_id != env_id:
        raise NotFound("No such workflow in this environment.")
    return mapping


def set_ignored(env_id: uuid.UUID, workflow_id: uuid.UUID, *, ignored: bool) -> WorkflowEnvMap:
    """Ignore a workflow (kept across syncs) or stop ignoring it."""
    mapping = get(env_id, workflow_id)
    if mapping.status == "deleted":
        raise Conflict("A deleted workflow cannot be ignored.", code="illegal_transition")
    if ignored == (mapping.status == "ignored"):
        return mapping
    after = "ignored" if ignored else _present_status(mapping)
    return _transition(mapping, after)


def acknowledge_deletion(env_id: uuid.UUID, workflow_id: uuid.UUID) -> WorkflowEnvMap:
    """missing -> deleted: the user confirms the workflow is gone for good."""
    mapping = get(env_id, workflow_id)
    if mapping.status != "missing":
        raise Conflict(
            f"Only a missing workflow can be marked deleted; this one is {mapping.status}.",
            code="illegal_transition",
            status=mapping.status,
        )
    return _transition(mapping, "deleted")


def _present_status(mapping: WorkflowEnvMap) -> str:
    if mapping.missing_since is not None:
        return "missing"
    return "linked" if mapping.canonical_id else "untracked"


def _transition(mapping: WorkflowEnvMap, after: str) -> WorkflowEnvMap:
    before = mapping.status
    # Guarded: a sync that changed the row meanwhile makes this a conflict, not a lost update.
    changed = db.execute(
        update(WorkflowEnvMap)
        .where(WorkflowEnvMap.id == mapping.id, WorkflowEnvMap.status == before)
        .values(status=after, updated_at=func.now())
    ).rowcount
    if not changed:
        db.rollback()
        raise Conflict("The workflow changed meanwhile; read it again.", code="stale")
    audit.record(
        "workflow.status",
        resource_type="workflow_env_map",
        resource_id=mapping.id,
        old={"status": before},
        new={"status": after},
    )
    db.commit()
    db.refresh(mapping)
    return mapping
