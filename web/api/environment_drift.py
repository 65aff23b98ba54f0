"""An environment's drift: its status with the active incident, the drift gate promotions
pass, on-demand checks and the check history."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import environments
from services.drift import gate
from web.auth import requires

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


class DriftGateSchema(ma.Schema):
    environment_id = ma.fields.UUID()
    blocked = ma.fields.Boolean(metadata={"description": "Promotions into it are refused now"})
    mode = ma.fields.String(allow_none=True, metadata={"description": "drift_handling_mode"})
    reasons = ma.fields.List(ma.fields.String(), metadata={"description": "Why, in sentences"})
    incident_id = ma.fields.UUID(allow_none=True)
    expired = ma.fields.Boolean()
    override = ma.fields.Nested(OverrideSchema, allow_none=True)
    drift_status = ma.fields.String(allow_none=True)


@blp.route("/<uuid:env_id>/drift-gate")
class EnvironmentDriftGate(MethodView):
    @requires("drift:read")
    @blp.response(200, DriftGateSchema)
    def get(self, env_id):
        """Whether drift blocks promotions into this environment now, and why"""
        environments.get(env_id)
        return gate.evaluate(env_id)
