"""The environment action guard (system.md §4.8, §4.1): the policy table as the tenant sees it,
its policy flags, and what the caller may do in one environment."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import environments, policy
from web.auth import current_principal, requires
from web.errors import ErrorSchema

blp = Blueprint(
    "workflow_policy",
    __name__,
    url_prefix="/workflow-policy",
    description="Which workflow actions each environment class allows",
)


class PolicyRuleSchema(ma.Schema):
    environment_class = ma.fields.String()
    action_type = ma.fields.String(data_key="action")
    policy = ma.fields.String(
        metadata={"description": "allowed, warning, blocked, requires_approval"}
    )
    default_policy = ma.fields.String()
    minimum_role = ma.fields.String(allow_none=True)
    tenant_configurable = ma.fields.Boolean(
        metadata={"description": "A policy flag this tenant may switch on or off"}
    )
    rule = ma.fields.String()


class PolicyFlagSchema(ma.Schema):
    enabled = ma.fields.Boolean(required=True)


class DecisionSchema(ma.Schema):
    action = ma.fields.String()
    allowed = ma.fields.Boolean()
    environment_class = ma.fields.String()
    policy = ma.fields.String()
    rule = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    warnings = ma.fields.List(ma.fields.String())
    minimum_role = ma.fields.String(allow_none=True)


@blp.route("")
class WorkflowPolicy(MethodView):
    @requires("workflow_policy:read")
    @blp.response(200, PolicyRuleSchema(many=True))
    def get(self):
        """The action guard's rules, with this tenant's policy flags applied"""
        return policy.matrix()


@blp.route("/<string:environment_class>/<string:action>")
class WorkflowPolicyFlag(MethodView):
    @requires("workflow_policy:write")
    @blp.arguments(PolicyFlagSchema)
    @blp.response(200, PolicyRuleSchema)
    @blp.alt_response(400, schema=ErrorSchema, description="The rule is not a policy flag")
    @blp.alt_response(404, schema=ErrorSchema, description="No such class or action")
    def put(self, data, environment_class, action):
        """Switch a policy flag on (allowed) or off (the default); audited"""
        return policy.set_flag(environment_class, action, enabled=data["enabled"])


@blp.route("/environments/<uuid:env_id>")
class EnvironmentCapabilities(MethodView):
    @requires("workflow_policy:read")
    @blp.response(200, DecisionSchema(many=True))
    def get(self, env_id):
        """What the caller may do with workflows in this environment, and why"""
        env = environments.get(env_id)
        principal = current_principal()
        return [decision.as_dict() for decision in policy.guard_every_action(env, principal)]
