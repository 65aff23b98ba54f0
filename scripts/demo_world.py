"""What the demo builds once its instances are connected, so the dashboard opens populated:
the tenant on the enterprise plan with a drift policy that opens incidents, canonical
workflows adopted from dev (their approved copies in Git, production's matching copies
linked), a pipeline dev -> production with a promotion scheduled for tomorrow, then a hotfix
made directly in the production n8n that a drift check finds: an open incident.

Every step is a call of the service the API or a job makes (the sync and the drift check
run here, before the worker starts, as their jobs would); nothing is inserted by hand.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from models.db import db
from services import canonical_onboarding, canonicals, entitlements, environments, links, sync
from services.drift import detection, policies
from services.identity import Principal
from services.promotions import deployments, lifecycle, pipelines
from services.runtime_copies import rows

#: The plan whose features the dashboard shows (incidents, policies, pipelines).
PLAN = "enterprise"
PIPELINE = "Release to production"
#: The workflow the scheduled promotion ships (dev only), and when, from now.
PROMOTED = "Draft: churn survey"
SCHEDULED_IN = timedelta(days=1)
#: The production workflow edited in n8n by hand, and the edit: alerts rerouted.
HOTFIXED = "Error alerts to on-call"
HOTFIX_CHANNEL = "#ops-alerts-hotfix"


def prepare() -> None:
    """Before the environments are connected: the plan, the drift policy, and nothing left
    of a previous run's pipeline (its environments are deleted, so are its promotions)."""
    entitlements.subscribe(PLAN)
    db.commit()
    wanted = {"auto_create_incidents": True}
    tenant_wide = [p for p in db.scalars(policies.list_query()) if p.environment_id is None]
    if tenant_wide:
        policies.update(tenant_wide[0].id, **wanted)
    else:
        policies.create(environment_id=None, **wanted)
    for pipeline in db.scalars(pipelines.list_query()).all():
        pipelines.delete(pipeline.id)


def build(envs: dict[str, Any], admin: Principal) -> dict[str, Any]:
    """Adopt, pipeline, promotion scheduled, hotfix in production and its drift check; what
    was made, for the banner."""
    dev, production = envs["dev"], envs["production"]
    for env in envs.values():  # the connection test, then the sync: onboarding's first steps
        environments.record_check(env.id, environments.check_connection(env))
        sync.sync_workflows(env.id)
    _relink_previous(dev.id)
    canonical_onboarding.onboard(dev.id, user_id=admin.user_id)
    pipeline = pipelines.create(
        name=PIPELINE,
        stages=[
            {"source_environment_id": str(dev.id), "target_environment_id": str(production.id)}
        ],
    )
    [promoted] = [c.canonical_id for c in rows(dev.id) if c.name == PROMOTED]
    promotion = lifecycle.create(
        pipeline_id=pipeline.id,
        source_environment_id=dev.id,
        target_environment_id=production.id,
        canonical_ids=[promoted],
        principal=admin,
    )
    deployment = deployments.execute(
        promotion.id, principal=admin, scheduled_for=datetime.now(UTC) + SCHEDULED_IN
    )
    _hotfix(production)
    check = detection.check(production.id, check_type="manual")
    return {"scheduled_for": deployment.scheduled_for, "incident_id": check["incident_id"]}


def _relink_previous(dev_id: uuid.UUID) -> None:
    """On a second run, dev's workflows link to the canonical workflows of their name that
    the first run adopted (onboarding then adopts none twice)."""
    by_name = {c.name: c.id for c in db.scalars(canonicals.list_query())}
    found = {c.n8n_id: by_name[c.name] for c in rows(dev_id) if c.name in by_name}
    if found:
        links.set_links(dev_id, found)
        db.commit()


def _hotfix(production) -> None:
    """Reroute the production alerts in n8n itself, as someone fixing it in the editor."""
    [n8n_id] = [c.n8n_id for c in rows(production.id) if c.name == HOTFIXED]
    with environments.n8n_session(production) as client:
        body = client.get_workflow(n8n_id)
        for node in body["nodes"]:
            if node["type"] == "n8n-nodes-base.slack":
                node["parameters"]["channel"] = HOTFIX_CHANNEL
        client.update_workflow(n8n_id, body)
