"""Helpers for the canonical-workflow tests: environments on fake n8n instances, synced through
the product's own sync, canonical workflows and links made through its services."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from models.db import db, tenant_scope
from models.workflows import CanonicalWorkflow, WorkflowEnvMap, WorkflowGitState
from services import canonicals, links, sync


def run(factory, tenant, func, /, *args, **kwargs):
    return factory.run_as(tenant.id, func, *args, **kwargs)


def sync_env(factory, tenant, env) -> dict:
    return run(factory, tenant, sync.sync_workflows, env.id)


def rows(app, tenant, env) -> dict[str, WorkflowEnvMap]:
    """The environment's workflow_env_map rows by n8n id (detached)."""
    with app.app_context(), tenant_scope(tenant.id):
        found = db.scalars(
            select(WorkflowEnvMap).where(WorkflowEnvMap.environment_id == env.id)
        ).all()
        db.expunge_all()
    return {row.n8n_workflow_id: row for row in found}


def states(app, tenant, env) -> dict[uuid.UUID, WorkflowGitState]:
    """The environment's approved-copy cache by canonical id (detached)."""
    with app.app_context(), tenant_scope(tenant.id):
        found = db.scalars(
            select(WorkflowGitState).where(WorkflowGitState.environment_id == env.id)
        ).all()
        db.expunge_all()
    return {row.canonical_id: row for row in found}


def canonical_rows(app, tenant) -> dict[uuid.UUID, CanonicalWorkflow]:
    with app.app_context(), tenant_scope(tenant.id):
        found = db.scalars(select(CanonicalWorkflow)).all()
        db.expunge_all()
    return {row.id: row for row in found}


def make_canonical(factory, tenant, name: str) -> uuid.UUID:
    def create():
        [row] = canonicals.create_many([canonicals.NewCanonical(name)])
        db.commit()
        return row.id

    return run(factory, tenant, create)


def link(factory, tenant, env, n8n_id: str, canonical_id: uuid.UUID | None) -> None:
    def change():
        links.set_links(env.id, {n8n_id: canonical_id})
        db.commit()

    run(factory, tenant, change)


def audit_actions(app, tenant, prefix: str) -> list[tuple[str, dict | None, dict | None]]:
    """(action, old, new) of the tenant's audit rows whose action starts with ``prefix``."""
    from models.audit import AuditLog

    with app.app_context(), tenant_scope(tenant.id):
        found = db.execute(
            select(AuditLog.action, AuditLog.old_value, AuditLog.new_value)
            .where(AuditLog.action.like(f"{prefix}%"))
            .order_by(AuditLog.created_at)
        ).all()
    return [tuple(row) for row in found]


def wait_job(client, tenant, job_id, timeout: float = 30.0) -> dict:
    """Poll a job through the API until it ends; its row."""
    import time

    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=tenant.viewer).json
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")
