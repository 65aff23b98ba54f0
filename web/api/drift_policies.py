"""Drift policies: tenant-wide or per environment (which then replaces the tenant's as a
whole): TTLs, auto-creation, approvals, check cadence, retention."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.drift import HOTFIX_KEEP_BEHAVIORS, MAX_CHECK_INTERVAL_MINUTES
from services.drift import policies
from web.auth import requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "drift_policies",
    __name__,
    url_prefix="/drift-policies",
    description="Drift governance per tenant or environment",
)

_HOURS = ma.validate.Range(min=0, max=policies.MAX_TTL_HOURS)
_DAYS = ma.validate.Range(min=0, max=36500)


class DriftPolicySchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    environment_id = ma.fields.UUID(
        allow_none=True, metadata={"description": "None: the tenant-wide policy"}
    )
    check_interval_minutes = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=MAX_CHECK_INTERVAL_MINUTES)
    )
    severity_ttls = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(), metadata={"description": "Hours"}
    )
    enforce_ttl = ma.fields.Boolean()
    auto_create_incidents = ma.fields.Boolean()
    auto_create_for_production_only = ma.fields.Boolean()
    notify_on_detection = ma.fields.Boolean()
    expiration_warning_hours = ma.fields.Integer(validate=_HOURS)
    require_approval_for_acknowledge = ma.fields.Boolean()
    require_approval_for_extend_ttl = ma.fields.Boolean()
    require_approval_for_reconcile = ma.fields.Boolean()
    approval_expiry_hours = ma.fields.Integer(validate=ma.validate.Range(min=1, max=24 * 90))
    prod_hotfix_keep_behavior = ma.fields.String(validate=ma.validate.OneOf(HOTFIX_KEEP_BEHAVIORS))
    closed_incident_retention_days = ma.fields.Integer(validate=_DAYS)
    reconciliation_artifact_retention_days = ma.fields.Integer(validate=_DAYS)
    approval_retention_days = ma.fields.Integer(validate=_DAYS)
    check_history_retention_days = ma.fields.Integer(validate=_DAYS)
    created_at = ma.fields.DateTime(dump_only=True)
    updated_at = ma.fields.DateTime(dump_only=True)


class DriftPolicyUpdateSchema(DriftPolicySchema):
    class Meta:
        exclude = ("environment_id",)


@blp.route("")
class DriftPolicies(MethodView):
    @requires("drift_policies:read")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, DriftPolicySchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit):
        """List the tenant's drift policies (the tenant-wide one first)"""
        return paginate(policies.list_query(), page=page, limit=limit)

    @requires("drift_policies:write")
    @blp.arguments(DriftPolicySchema)
    @blp.response(201, DriftPolicySchema)
    @blp.alt_response(409, schema=ErrorSchema, description="One exists for that scope")
    def post(self, data):
        """Create the tenant-wide policy or one environment's"""
        return policies.create(environment_id=data.pop("environment_id", None), **data)


@blp.route("/<uuid:policy_id>")
class DriftPolicyById(MethodView):
    @requires("drift_policies:read")
    @blp.response(200, DriftPolicySchema)
    def get(self, policy_id):
        """One drift policy"""
        return policies.get(policy_id)

    @requires("drift_policies:write")
    @blp.arguments(DriftPolicyUpdateSchema)
    @blp.response(200, DriftPolicySchema)
    def put(self, data, policy_id):
        """Change a drift policy"""
        return policies.update(policy_id, **data)

    @requires("drift_policies:write")
    @blp.response(204)
    def delete(self, policy_id):
        """Delete a drift policy (the tenant's, or the defaults, apply again)"""
        policies.delete(policy_id)
