"""An environment's drift: its status with the active incident, the drift gate promotions
pass, on-demand checks and the check history."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import environments
from services.drift import checks, gate, incidents
from web.api.jobs import JobSchema, accepted
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "environment_drift",
    __name__,
    url_prefix="/environments",
    description="Drift of an environment: status, gate, checks",
)


class OverrideSchema(ma.Schema):
    id = ma.fields.UUID()
    kind = ma.fields.String(metadata={"description": "override or attestation"})
    attested_by = ma.fields.UUID(allow_none=True)
    reason = ma.fields.String()
    ticket_ref = ma.fields.String(allow_none=True)
    approval_id = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime(allow_none=True)


class GateOverrideSchema(OverrideSchema):
    """The override as the gate reports it (services.drift.attestations.as_dict)."""

    created_at = ma.fields.String(metadata={"format": "date-time"})
    expires_at = ma.fields.String(allow_none=True, metadata={"format": "date-time"})


class DriftGateSchema(ma.Schema):
    environment_id = ma.fields.UUID()
    blocked = ma.fields.Boolean(metadata={"description": "Promotions into it are refused now"})
    mode = ma.fields.String(allow_none=True, metadata={"description": "drift_handling_mode"})
    reasons = ma.fields.List(ma.fields.String(), metadata={"description": "Why, in sentences"})
    incident_id = ma.fields.UUID(allow_none=True)
    expired = ma.fields.Boolean()
    override = ma.fields.Nested(GateOverrideSchema, allow_none=True)
    drift_status = ma.fields.String(allow_none=True)


@blp.route("/<uuid:env_id>/drift-gate")
class EnvironmentDriftGate(MethodView):
    @requires("drift:read")
    @blp.response(200, DriftGateSchema)
    def get(self, env_id):
        """Whether drift blocks promotions into this environment now, and why"""
        environments.get(env_id)
        return gate.evaluate(env_id)


class IncidentBriefSchema(ma.Schema):
    id = ma.fields.UUID()
    status = ma.fields.String()
    severity = ma.fields.String(allow_none=True)
    title = ma.fields.String(allow_none=True)
    detected_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime(allow_none=True)
    expired_at = ma.fields.DateTime(allow_none=True)
    cleared_at = ma.fields.DateTime(allow_none=True)


class EnvironmentDriftSchema(ma.Schema):
    environment_id = ma.fields.UUID()
    drift_status = ma.fields.String(
        metadata={
            "description": "UNKNOWN (never checked), NEW (not onboarded), IN_SYNC, "
            "DRIFT_DETECTED, GIT_UNAVAILABLE or ERROR (unavailable, with the reason), "
            "DEPLOY_MISSING"
        }
    )
    reason = ma.fields.String(allow_none=True)
    last_checked_at = ma.fields.DateTime(allow_none=True)
    last_detected_at = ma.fields.DateTime(allow_none=True)
    drift_handling_mode = ma.fields.String()
    active_incident = ma.fields.Nested(IncidentBriefSchema, allow_none=True)
    latest_check = ma.fields.Dict(allow_none=True, metadata={"description": "Counts by kind"})


class CheckSchema(ma.Schema):
    id = ma.fields.UUID()
    check_type = ma.fields.String()
    drift_status = ma.fields.String(allow_none=True)
    drift_found = ma.fields.Boolean()
    workflows_checked = ma.fields.Integer()
    workflows_with_drift = ma.fields.Integer()
    check_duration_ms = ma.fields.Integer(allow_none=True)
    error_message = ma.fields.String(allow_none=True)
    summary = ma.fields.Dict()
    job_id = ma.fields.UUID(allow_none=True)
    checked_at = ma.fields.DateTime()


@blp.route("/<uuid:env_id>/drift")
class EnvironmentDrift(MethodView):
    @requires("drift:read")
    @blp.response(200, EnvironmentDriftSchema)
    def get(self, env_id):
        """The environment's drift status, with its active incident"""
        env = environments.get(env_id)
        last = checks.latest(env.id)
        return {
            "environment_id": env.id,
            "drift_status": env.drift_status,
            "reason": env.drift_status_reason,
            "last_checked_at": env.last_drift_check_at,
            "last_detected_at": env.last_drift_detected_at,
            "drift_handling_mode": env.drift_handling_mode,
            "active_incident": incidents.active_for(env.id),
            "latest_check": (last.summary or {}).get("counts") if last else None,
        }


@blp.route("/<uuid:env_id>/drift-checks")
class EnvironmentDriftChecks(MethodView):
    @requires("drift:read")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, CheckSchema(many=True), headers=PAGE_HEADERS)
    def get(self, env_id, page, limit):
        """The environment's drift checks, newest first"""
        return paginate(checks.history_query(env_id), page=page, limit=limit)

    @requires("drift:check")
    @blp.response(202, JobSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="A check is queued or running")
    def post(self, env_id):
        """Check the environment for drift now (a job)"""
        return accepted(checks.start(env_id, user_id=current_principal().user_id))
