"""Helpers for the drift tests: a tenant on a plan, environments of a class and mode, incidents
opened and findings recorded through the product's own services."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update

from models.db import db, tenant_scope
from models.drift import DriftIncident
from models.environments import Environment
from services import entitlements
from services.drift import incidents
from services.identity import Principal


def on_plan(factory, tenant, plan: str) -> None:
    """Put the tenant on ``plan`` (its entitlements follow)."""

    def change():
        entitlements.subscribe(plan)
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


def approve_all(factory, tenant, env, fake, count: int = 2) -> dict[str, uuid.UUID]:
    """``count`` workflows in ``fake``, synced, each linked to a canonical workflow whose
    approved copy in Git is what runs now; returns {n8n id: canonical id}."""
    from tests.canonical import link, make_canonical, sync_env

    ids = fake.add_workflows(count, name_prefix=f"Flow {uuid.uuid4().hex[:4]}")
    sync_env(factory, tenant, env)
    found = {}
    for n8n_id in ids:
        canonical = make_canonical(factory, tenant, f"Flow {n8n_id}")
        link(factory, tenant, env, n8n_id, canonical)
        found[n8n_id] = canonical
    commit_running(factory, tenant, env, fake, found)
    return found


def commit_running(factory, tenant, env, fake, found: dict[str, uuid.UUID]) -> None:
    """Commit what ``fake`` runs of workflows ``found`` ({n8n id: canonical id}) as their
    approved copies in ``env``'s Git folder."""
    from services import approved, env_links
    from services.workflow_file import from_n8n

    def commit():
        refs = env_links.links_for(env.id)
        files = [
            from_n8n(
                fake.workflow(n8n_id),
                canonical_id=str(canonical),
                slug=f"wf-{str(canonical)[:8]}",
                workflow_ref=refs.workflow_ref,
            )
            for n8n_id, canonical in found.items()
        ]
        row = db.get(Environment, env.id)
        approved.commit_approved(
            row, [approved.ApprovedChange(f) for f in files], operation="backup", message="Approve"
        )

    factory.run_as(tenant.id, commit)


def edit_in_n8n(fake, n8n_id: str, change) -> None:
    """Change a workflow in n8n the way a person's edit in the editor does."""
    import copy

    with fake._lock:
        body = copy.deepcopy(fake.store.workflow(n8n_id))
        change(body)
        fake.store.replace_workflow(n8n_id, body)


def delete_in_n8n(fake, n8n_id: str) -> None:
    with fake._lock:
        del fake.store.workflows[n8n_id]


def check(factory, tenant, env, **options) -> dict[str, Any]:
    from services.drift import detection

    return factory.run_as(tenant.id, detection.check, env.id, **options)
