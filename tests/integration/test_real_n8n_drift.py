"""A drift round trip against a real n8n (opt-in: N8N_URL and N8N_API_KEY): a workflow approved
in Git is in sync; an edit made in n8n is drift; revert writes the approved version back in
place (same n8n id) and the re-check is clean. Everything it creates is named "n8n-ops it ..."
and deleted again."""

from __future__ import annotations

import contextlib
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from models.db import db, tenant_scope
from models.drift import DriftIncident
from models.environments import Environment
from services import approved, env_links
from services.drift import policies, resolution
from services.n8n import N8nNotFound
from services.workflow_file import from_n8n
from tests.canonical import link, make_canonical, sync_env
from tests.drift import check, on_plan, principal
from tests.fake_n8n.server import sample_workflow
from tests.integration.conftest import KEY, URL
from tests.jobs.helpers import wait_for

pytestmark = pytest.mark.real_n8n


@pytest.fixture
def workflow(client):
    created = client.create_workflow(sample_workflow(f"n8n-ops it drift {uuid.uuid4().hex[:8]}"))
    yield created
    with contextlib.suppress(N8nNotFound):
        client.delete_workflow(created["id"])


def test_drift_round_trip_on_a_real_n8n(app, factory, tenant, client, workflow, worker):
    on_plan(factory, tenant, "enterprise")
    factory.run_as(tenant.id, policies.create, environment_id=None, auto_create_incidents=True)
    prod = factory.environment(
        tenant.id, SimpleNamespace(url=URL, api_key=KEY), environment_class="production"
    )
    sync_env(factory, tenant, prod)
    canonical = make_canonical(factory, tenant, workflow["name"])
    link(factory, tenant, prod, workflow["id"], canonical)

    def approve():
        file = from_n8n(
            client.get_workflow(workflow["id"]),
            canonical_id=str(canonical),
            slug="drift-it",
            workflow_ref=env_links.links_for(prod.id).workflow_ref,
        )
        env = db.get(Environment, prod.id)
        approved.commit_approved(
            env, [approved.ApprovedChange(file)], operation="backup", message="Approve"
        )

    factory.run_as(tenant.id, approve)
    assert check(factory, tenant, prod)["counts"]["modified"] == 0

    edited = client.get_workflow(workflow["id"])
    edited["nodes"][1]["parameters"] = {"notice": "edited in production"}
    client.update_workflow(
        workflow["id"], {k: edited[k] for k in ("name", "nodes", "connections", "settings")}
    )
    found = check(factory, tenant, prod)
    assert found["counts"]["modified"] == 1 and found["incident_id"]

    job = factory.run_as(
        tenant.id, resolution.start, uuid.UUID(found["incident_id"]), "revert",
        principal=principal(tenant),
    )  # fmt: skip
    assert wait_for(app, tenant.id, job.id, timeout=120).status == "completed"

    after = client.get_workflow(workflow["id"])  # the same id: updated in place
    no_op = next(n for n in after["nodes"] if n["name"] == "No Op")
    assert no_op["parameters"] == {}
    assert check(factory, tenant, prod)["counts"]["modified"] == 0
    with app.app_context(), tenant_scope(tenant.id):
        incident = db.scalar(select(DriftIncident).where(DriftIncident.environment_id == prod.id))
        assert incident.status == "reconciled"
