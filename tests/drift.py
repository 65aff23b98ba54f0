"""Helpers for the drift tests: a tenant on a plan, environments of a class and mode, incidents
opened and findings recorded through the product's own services."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update

from models.billing import Plan, TenantPlan
from models.db import db, tenant_scope
from models.drift import DriftIncident
from models.environments import Environment
from services.drift import incidents
from services.identity import Principal


def on_plan(factory, tenant, plan: str) -> None:
    """Put the tenant on ``plan`` (its entitlements follow)."""

    def change():
        plan_id = db.scalar(select(Plan.id).where(Plan.name == plan))
        db.merge(TenantPlan(tenant_id=tenant.id, provider="n8n", plan_id=plan_id, is_active=True))
        db.commit()

    factory.run_as(tenant.id, change)


def principal(tenant, role: str = "admin") -> Principal:
    return Principal(user_id=tenant.user_ids[role], tenant_id=tenant.id, role=role)


def finding(n: int, kind: str = "modified", digest: str | None = None) -> dict[str, Any]:
    """One drifted workflow as detection describes it."""
    return {
        "canonical_id": str(uuid.UUID(int=n + 1)),
        "n8n_workflow_id": f"wf{n}",
        "name": f"Workflow {n}",
        "kind": kind,
        "runtime_digest": digest or f"r{n}",
        "approved_digest": f"a{n}",
    }


def open_incident(factory, tenant, env, affected=None, **options) -> DriftIncident:
    """An open incident of ``env`` (as detection opens one), committed; detached."""

    def go():
        row = db.get(Environment, env.id)
        incident = incidents.open_incident(
            row, affected if affected is not None else [finding(1)], detected_by=None, **options
        )
        db.commit()
        return incident

    return factory.run_as(tenant.id, go)


def set_incident(app, tenant, incident_id, **values) -> None:
    """Change an incident's columns directly (time travel for TTL tests)."""
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(update(DriftIncident).where(DriftIncident.id == incident_id).values(**values))
        db.commit()
        db.remove()


def set_environment(app, tenant, env_id, **values) -> None:
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(update(Environment).where(Environment.id == env_id).values(**values))
        db.commit()
        db.remove()
