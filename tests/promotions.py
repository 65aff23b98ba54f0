"""Helpers for the promotion tests: workflows seeded in two fake n8n instances, linked to
canonical workflows and approved in Git through the product's own services, a pipeline
between the two environments, and deployments run by a real worker."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from models.db import db, tenant_scope
from models.promotions import Deployment, DeploymentWorkflow, Promotion
from services import approved, env_links
from services.promotions import credentials, deployments, lifecycle, pipelines
from services.workflow_file import from_n8n
from tests.canonical import link, make_canonical, run, sync_env
from tests.drift import principal
from tests.fake_n8n.server import sample_workflow
from tests.jobs.helpers import wait_for


@dataclass
class Seed:
    canonical_id: uuid.UUID
    dev_id: str
    staging_id: str | None = None


def workflow(name: str, url: str = "https://api.example/v1") -> dict[str, Any]:
    """A webhook workflow calling an HTTP API (webhook ids matter for promotion)."""
    body = sample_workflow(name)
    body["nodes"][0].update(
        type="n8n-nodes-base.webhook",
        name="Webhook",
        typeVersion=2,
        parameters={"path": name.lower().replace(" ", "-"), "httpMethod": "POST"},
        webhookId=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
    )
    body["nodes"][1].update(name="Call", parameters={"url": url})
    body["connections"] = {"Webhook": {"main": [[{"node": "Call", "type": "main", "index": 0}]]}}
    return body


def approve(factory, tenant, env, fake, seeds: dict[str, Seed], *, side: str = "dev") -> None:
    """Commit each seeded workflow's current runtime copy as the environment's approved one."""

    def go():
        refs = env_links.links_for(env.id)
        files = [
            from_n8n(
                fake.workflow(getattr(s, f"{side}_id")),
                canonical_id=str(s.canonical_id),
                slug=f"wf-{str(s.canonical_id)[:8]}",
                workflow_ref=refs.workflow_ref,
            )
            for s in seeds.values()
            if getattr(s, f"{side}_id")
        ]
        approved.commit_approved(
            env, [approved.ApprovedChange(f) for f in files], operation="backup", message="Approve"
        )

    run(factory, tenant, go)


def seed(
    factory, tenant, dev, fake_dev, bodies: dict[str, dict], *, staging=None, fake_staging=None
) -> dict[str, Seed]:
    """Each body in dev (and, when given, a copy in staging), linked and approved."""
    seeds: dict[str, Seed] = {}
    for name, body in bodies.items():
        wf = fake_dev.add_workflow(copy.deepcopy(body))
        seeds[name] = Seed(make_canonical(factory, tenant, name), wf["id"])
        if fake_staging is not None:
            seeds[name].staging_id = fake_staging.add_workflow(copy.deepcopy(body))["id"]
    sync_env(factory, tenant, dev)
    for s in seeds.values():
        link(factory, tenant, dev, s.dev_id, s.canonical_id)
    approve(factory, tenant, dev, fake_dev, seeds)
    if staging is not None:
        sync_env(factory, tenant, staging)
        if fake_staging is not None:
            for s in seeds.values():
                link(factory, tenant, staging, s.staging_id, s.canonical_id)
            approve(factory, tenant, staging, fake_staging, seeds, side="staging")
    return seeds


def pipeline(factory, tenant, dev, staging, **stage: Any):
    """A pipeline with one stage dev -> staging (``stage`` overrides its config)."""
    config = {
        "source_environment_id": str(dev.id),
        "target_environment_id": str(staging.id),
        **stage,
    }
    return run(factory, tenant, pipelines.create, name=f"p-{uuid.uuid4().hex[:6]}", stages=[config])


def map_credential(factory, tenant, credential_type: str, name: str, names: dict) -> None:
    """A logical credential mapped in each environment (``names``: environment -> the name of
    its credential)."""
    logical = run(
        factory, tenant, credentials.create_logical, credential_type=credential_type, name=name
    )
    for env, here in names.items():
        run(
            factory,
            tenant,
            credentials.create_mapping,
            logical_credential_id=logical.id,
            environment_id=env.id,
            n8n_credential_name=here,
        )


def promote(factory, tenant, pipe, dev, staging, seeds, *, role: str = "admin"):
    return run(
        factory,
        tenant,
        lifecycle.create,
        pipeline_id=pipe.id,
        source_environment_id=dev.id,
        target_environment_id=staging.id,
        canonical_ids=[s.canonical_id for s in seeds.values()],
        principal=principal(tenant, role),
    )


def deploy_now(app, factory, tenant, promotion, *, role: str = "admin"):
    """Execute a promotion and wait for its job (a worker must run)."""
    deployment = run(
        factory, tenant, deployments.execute, promotion.id, principal=principal(tenant, role)
    )
    return wait_for(app, tenant.id, deployment.job_id, timeout=60)


def state(app, tenant, promotion_id) -> tuple[Promotion, Deployment | None, dict[str, Any]]:
    """The promotion, its latest deployment and that deployment's rows by name (detached)."""
    with app.app_context(), tenant_scope(tenant.id):
        promotion = db.get(Promotion, promotion_id)
        deployment = db.scalar(
            select(Deployment)
            .where(Deployment.promotion_id == promotion_id)
            .order_by(Deployment.created_at.desc())
            .limit(1)
        )
        rows = {}
        if deployment is not None:
            rows = {
                r.workflow_name: r
                for r in db.scalars(
                    select(DeploymentWorkflow).where(
                        DeploymentWorkflow.deployment_id == deployment.id
                    )
                )
            }
        db.expunge_all()
    return promotion, deployment, rows


def edit(fake, workflow_id: str, url: str) -> None:
    """Change a workflow's HTTP call in n8n (as someone editing it would)."""
    with fake._lock:
        for node in fake.store.workflows[workflow_id]["nodes"]:
            if node["name"] == "Call":
                node["parameters"]["url"] = url


def new_version_in_dev(factory, tenant, dev, fake, seeds, url="https://api.example/v2"):
    for s in seeds.values():
        edit(fake, s.dev_id, url)
    sync_env(factory, tenant, dev)
    approve(factory, tenant, dev, fake, seeds)
