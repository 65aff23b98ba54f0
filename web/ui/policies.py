"""Tenant settings that shape environments: environment types and the workflow action
policy (which actions each environment class allows, and the tenant's policy flags)."""

from __future__ import annotations

from flask import render_template

from services import environment_types, policy
from web.api.environment_types import EnvironmentTypeSchema
from web.api.workflow_policy import PolicyFlagSchema
from web.auth import requires
from web.ui.base import done, form, listing, page_blueprint

bp = page_blueprint("ui_policies", __name__)


@bp.get("/environment-types")
@requires("environment_types:read")
def environment_type_list():
    """Environment types."""
    return render_template("environment_types.html", types=listing(environment_types.list_query()))


@bp.post("/environment-types")
@requires("environment_types:write")
def environment_type_create():
    """Add an environment type."""
    created = environment_types.create(**form(EnvironmentTypeSchema()))
    return done(f"Added {created.name}.", "ui_policies.environment_type_list")


@bp.get("/workflow-policy")
@requires("workflow_policy:read")
def workflow_policy():
    """The workflow action policy."""
    return render_template("workflow_policy.html", rules=policy.matrix())


@bp.post("/workflow-policy/<string:environment_class>/<string:action>")
@requires("workflow_policy:write")
def workflow_policy_flag(environment_class, action):
    """Switch a policy flag on or off."""
    policy.set_flag(environment_class, action, **form(PolicyFlagSchema()))
    return done("Policy saved.", "ui_policies.workflow_policy")
