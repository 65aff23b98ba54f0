"""Drift policies: the tenant-wide one and each environment's (which replaces it as a whole),
shown with the defaults that apply without any; admins add, change and delete them."""

from __future__ import annotations

import marshmallow as ma
from flask import render_template, request

from models.drift import HOTFIX_KEEP_BEHAVIORS, SEVERITIES
from services import workflow_matrix
from services.drift import policies
from web.api.drift_policies import DriftPolicySchema, DriftPolicyUpdateSchema
from web.auth import requires
from web.ui.base import done, listing, page_blueprint

bp = page_blueprint("ui_drift_policies", __name__)

#: The form's fields by kind (severity_ttls is one number field per severity).
BOOLEANS = tuple(name for name in policies.EDITABLE if isinstance(policies.DEFAULTS[name], bool))
NUMBERS = tuple(
    name
    for name in policies.EDITABLE
    if isinstance(policies.DEFAULTS[name], int) and name not in BOOLEANS
)


def _bounds(name: str) -> dict:
    """The number field's limits as the API's schema validates them (min, max)."""
    ranges = [
        v for v in DriftPolicySchema().fields[name].validators if isinstance(v, ma.validate.Range)
    ]
    return {"min": ranges[0].min, "max": ranges[0].max} if ranges else {"min": 0, "max": None}


#: Each number field's limits, for the form's inputs.
BOUNDS = {name: _bounds(name) for name in NUMBERS}


@bp.get("/drift-policies")
@requires("drift_policies:read")
def policy_list():
    """Drift policies."""
    envs = workflow_matrix.environments()
    found = listing(policies.list_query())
    taken = {row.environment_id for row in found["rows"]}
    return render_template(
        "drift_policies.html",
        policies=found,
        env_names={e["id"]: e["name"] for e in envs},
        free_scopes=[(None, "The whole tenant")] * (None not in taken)
        + [(e["id"], e["name"]) for e in envs if e["id"] not in taken],
        defaults=policies.DEFAULTS,
        default_ttls=policies.DEFAULT_TTL_HOURS,
        booleans=BOOLEANS,
        numbers=NUMBERS,
        bounds=BOUNDS,
        max_ttl_hours=policies.MAX_TTL_HOURS,
        severities=SEVERITIES,
        behaviors=HOTFIX_KEEP_BEHAVIORS,
    )


def _posted() -> dict:
    """The posted policy fields; the severities' hours gathered into severity_ttls."""
    names = (*BOOLEANS, *NUMBERS, "prod_hotfix_keep_behavior")
    data = {k: v for k in names if (v := request.form.get(k, "")) != ""}
    ttls = {s: v for s in SEVERITIES if (v := request.form.get(f"ttl_{s}", "")) != ""}
    return {**data, "severity_ttls": ttls} if ttls else data


@bp.post("/drift-policies")
@requires("drift_policies:write")
def policy_create():
    """Add a policy for the tenant or one environment."""
    scope = request.form.get("environment_id") or None
    data = DriftPolicySchema().load({**_posted(), "environment_id": scope})
    policies.create(environment_id=data.pop("environment_id", None), **data)
    return done("Drift policy added.", "ui_drift_policies.policy_list")


@bp.post("/drift-policies/<uuid:policy_id>")
@requires("drift_policies:write")
def policy_update(policy_id):
    """Change a policy."""
    policies.update(policy_id, **DriftPolicyUpdateSchema().load(_posted()))
    return done("Drift policy saved.", "ui_drift_policies.policy_list")


@bp.post("/drift-policies/<uuid:policy_id>/delete")
@requires("drift_policies:write")
def policy_delete(policy_id):
    """Delete a policy (the tenant's, or the defaults, apply again)."""
    policies.delete(policy_id)
    return done("Drift policy deleted.", "ui_drift_policies.policy_list")
