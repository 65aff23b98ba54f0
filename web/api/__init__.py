"""The REST API under /api/v1: one blueprint per resource."""

from __future__ import annotations

from flask_smorest import Api

from web.api import (
    audit,
    canonical,
    credential_mappings,
    credentials,
    deployments,
    drift_approvals,
    drift_incidents,
    drift_policies,
    environment_drift,
    environment_types,
    environments,
    events,
    executions,
    git,
    ignore_rules,
    invitations,
    jobs,
    live,
    me,
    pipelines,
    promotions,
    snapshots,
    tokens,
    users,
    workflow_policy,
    workflows,
)

PREFIX = "/api/v1"

BLUEPRINTS = (
    me.blp,
    invitations.blp,
    users.blp,
    audit.blp,
    tokens.blp,
    jobs.blp,
    environment_types.blp,
    environments.blp,
    workflows.blp,
    executions.blp,
    credentials.blp,
    events.blp,
    git.blp,
    ignore_rules.blp,
    workflow_policy.blp,
    environment_drift.blp,
    drift_incidents.blp,
    drift_approvals.blp,
    drift_policies.blp,
    canonical.blp,
    snapshots.blp,
    pipelines.blp,
    promotions.blp,
    deployments.blp,
    credential_mappings.blp,
    live.blp,
)


def register(api: Api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=PREFIX + blueprint.url_prefix)
