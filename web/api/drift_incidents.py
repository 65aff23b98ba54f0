"""Drift incidents: list, open by hand, change, walk through the lifecycle, extend the TTL,
override, resolve in one action (revert, keep hotfix), and read the timeline and artifacts."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.drift import RESOLUTION_TYPES, SEVERITIES
from services.drift import attestations, incidents, lifecycle, resolution, timeline
from web.api.environment_drift import OverrideSchema
from web.api.jobs import JobSchema, accepted
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "drift_incidents",
    __name__,
    url_prefix="/incidents",
    description="Drift incidents: from detection to closing",
)

_TEXT = ma.validate.Length(min=1, max=2000)
_TICKET = ma.validate.Length(min=1, max=200)


class IncidentSchema(ma.Schema):
    id = ma.fields.UUID()
    environment_id = ma.fields.UUID()
    status = ma.fields.String()
    title = ma.fields.String(allow_none=True)
    summary = ma.fields.Dict()
    severity = ma.fields.String(allow_none=True)
    severity_source = ma.fields.String(metadata={"description": "rules or person"})
    detected_at = ma.fields.DateTime()
    detected_by = ma.fields.UUID(allow_none=True)
    acknowledged_at = ma.fields.DateTime(allow_none=True)
    acknowledged_by = ma.fields.UUID(allow_none=True)
    stabilized_at = ma.fields.DateTime(allow_none=True)
    stabilized_by = ma.fields.UUID(allow_none=True)
    reconciled_at = ma.fields.DateTime(allow_none=True)
    reconciled_by = ma.fields.UUID(allow_none=True)
    closed_at = ma.fields.DateTime(allow_none=True)
    closed_by = ma.fields.UUID(allow_none=True)
    owner_user_id = ma.fields.UUID(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    ticket_ref = ma.fields.String(allow_none=True)
    expires_at = ma.fields.DateTime(allow_none=True)
    ttl_source = ma.fields.String()
    expired_at = ma.fields.DateTime(allow_none=True)
    ttl_warning_sent_at = ma.fields.DateTime(allow_none=True)
    last_detected_at = ma.fields.DateTime(allow_none=True)
    cleared_at = ma.fields.DateTime(allow_none=True)
    affected_workflows = ma.fields.List(ma.fields.Dict())
    drift_fingerprint = ma.fields.String(allow_none=True)
    resolution_type = ma.fields.String(allow_none=True)
    resolution_details = ma.fields.Dict(allow_none=True)
    payload_purged_at = ma.fields.DateTime(allow_none=True)


class IncidentDetailSchema(IncidentSchema):
    drift_snapshot = ma.fields.Dict(allow_none=True, metadata={"description": "Immutable"})


class IncidentListArgs(PageArgs):
    environment_id = ma.fields.UUID()
    status = ma.fields.String(validate=ma.validate.OneOf(lifecycle.TRANSITIONS))
    severity = ma.fields.String(validate=ma.validate.OneOf(SEVERITIES))
    active = ma.fields.Boolean()
    expired = ma.fields.Boolean()

    @ma.post_load
    def _filters(self, data, **kwargs):
        page, limit = data.pop("page"), data.pop("limit")
        return {"page": page, "limit": limit, "filters": incidents.IncidentFilters(**data)}


class IncidentUpdateSchema(ma.Schema):
    title = ma.fields.String(validate=_TEXT)
    reason = ma.fields.String(validate=_TEXT)
    severity = ma.fields.String(validate=ma.validate.OneOf(SEVERITIES))
    owner_user_id = ma.fields.UUID()
    ticket_ref = ma.fields.String(validate=_TICKET)


class IncidentCreateSchema(IncidentUpdateSchema):
    environment_id = ma.fields.UUID(required=True)


class TransitionSchema(ma.Schema):
    reason = ma.fields.String(validate=_TEXT)
    ticket_ref = ma.fields.String(validate=_TICKET)
    owner_user_id = ma.fields.UUID()
    resolution_type = ma.fields.String(validate=ma.validate.OneOf(RESOLUTION_TYPES))
    resolution_details = ma.fields.Dict()
    admin_override = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Admins: any step but out of closed, no approval (audited)"},
    )


class ExtendSchema(ma.Schema):
    hours = ma.fields.Integer(
        required=True, validate=ma.validate.Range(min=1, max=lifecycle.MAX_EXTENSION_HOURS)
    )
    reason = ma.fields.String(validate=_TEXT)
    admin_override = ma.fields.Boolean(load_default=False)


class OverrideCreateSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=_TEXT)
    ticket_ref = ma.fields.String(validate=_TICKET)
    valid_hours = ma.fields.Integer(
        validate=ma.validate.Range(min=1, max=attestations.MAX_VALID_HOURS)
    )


class TimelineEntrySchema(ma.Schema):
    id = ma.fields.UUID()
    event_type = ma.fields.String()
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String(allow_none=True)
    actor_id = ma.fields.UUID(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    ticket_ref = ma.fields.String(allow_none=True)
    owner_user_id = ma.fields.UUID(allow_none=True)
    admin_override = ma.fields.Boolean()
    details = ma.fields.Dict()
    created_at = ma.fields.DateTime()


class ArtifactSchema(ma.Schema):
    id = ma.fields.UUID()
    resolution = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    artifact_data = ma.fields.Dict(metadata={"description": "Per workflow: before and after"})
    job_id = ma.fields.UUID(allow_none=True)
    created_by = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    finished_at = ma.fields.DateTime(allow_none=True)
    error_message = ma.fields.String(allow_none=True)
    payload_purged_at = ma.fields.DateTime(allow_none=True)


@blp.route("")
class Incidents(MethodView):
    @requires("drift:read")
    @blp.arguments(IncidentListArgs, location="query", as_kwargs=True)
    @blp.response(200, IncidentSchema(many=True), headers=PAGE_HEADERS)
    def get(self, filters, page, limit):
        """List incidents, newest first"""
        return paginate(incidents.list_query(filters), page=page, limit=limit)

    @requires("drift:acknowledge")
    @blp.arguments(IncidentCreateSchema)
    @blp.response(201, IncidentDetailSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The environment has one open")
    def post(self, data):
        """Open an incident by hand (it takes the drift of the environment's latest check)"""
        env_id = data.pop("environment_id")
        return incidents.create(env_id, principal=current_principal(), **data)


@blp.route("/<uuid:incident_id>")
class IncidentById(MethodView):
    @requires("drift:read")
    @blp.response(200, IncidentDetailSchema)
    def get(self, incident_id):
        """One incident, with its drift snapshot"""
        return incidents.get(incident_id)

    @requires("drift:acknowledge")
    @blp.arguments(IncidentUpdateSchema)
    @blp.response(200, IncidentDetailSchema)
    def put(self, data, incident_id):
        """Change title, reason, ticket, owner or severity (then set by a person)"""
        return lifecycle.update_fields(incident_id, principal=current_principal(), **data)

    @requires("drift:manage")
    @blp.response(204)
    def delete(self, incident_id):
        """Delete an incident (soft: its environment is freed)"""
        lifecycle.delete(incident_id, principal=current_principal())


def _transition_view(to: str, permission: str, summary: str):
    class Transition(MethodView):
        @requires(permission)
        @blp.arguments(TransitionSchema)
        @blp.response(200, IncidentDetailSchema)
        @blp.alt_response(409, schema=ErrorSchema, description="Not legal from its status")
        def post(self, data, incident_id):
            return lifecycle.transition(incident_id, to, principal=current_principal(), **data)

    Transition.post.__doc__ = summary
    Transition.__name__ = f"Incident{to.capitalize()}"
    return Transition


for _path, _to, _permission, _summary in (
    ("acknowledge", "acknowledged", "drift:acknowledge", "Acknowledge: someone owns it"),
    ("stabilize", "stabilized", "drift:acknowledge", "Stabilize: the drift holds still"),
    ("reconcile", "reconciled", "drift:manage", "Reconcile, with the resolution type"),
    ("close", "closed", "drift:manage", "Close, with a reason (never reopened)"),
):
    blp.route(f"/<uuid:incident_id>/{_path}")(_transition_view(_to, _permission, _summary))


@blp.route("/<uuid:incident_id>/extend-ttl")
class IncidentExtendTtl(MethodView):
    @requires("drift:manage")
    @blp.arguments(ExtendSchema)
    @blp.response(200, IncidentDetailSchema)
    def post(self, data, incident_id):
        """Push the expiry further (drift_ttl_sla; an approval per policy)"""
        return lifecycle.extend_ttl(incident_id, principal=current_principal(), **data)


@blp.route("/<uuid:incident_id>/overrides")
class IncidentOverrides(MethodView):
    @requires("drift:read")
    @blp.response(200, OverrideSchema(many=True))
    def get(self, incident_id):
        """The incident's overrides and attestations, newest first"""
        return attestations.for_incident(incident_id)

    @requires("drift:override")
    @blp.arguments(OverrideCreateSchema)
    @blp.response(201, OverrideSchema)
    def post(self, data, incident_id):
        """Let promotions pass this drift: an override, or an attestation with a ticket"""
        return attestations.give(incident_id, principal=current_principal(), **data)


@blp.route("/<uuid:incident_id>/overrides/<uuid:override_id>")
class IncidentOverrideById(MethodView):
    @requires("drift:override")
    @blp.response(200, OverrideSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Revoked already")
    def delete(self, incident_id, override_id):
        """Withdraw an override or attestation: promotions are blocked again"""
        incidents.get(incident_id)
        return attestations.revoke(override_id, principal=current_principal())


def _resolution_view(kind: str, summary: str):
    class Resolve(MethodView):
        @requires("drift:resolve")
        @blp.response(202, JobSchema)
        @blp.alt_response(409, schema=ErrorSchema, description="Git unavailable, or running")
        def post(self, incident_id):
            return accepted(resolution.start(incident_id, kind, principal=current_principal()))

    Resolve.post.__doc__ = summary
    Resolve.__name__ = f"Incident{kind.title().replace('_', '')}"
    return Resolve


blp.route("/<uuid:incident_id>/revert")(
    _resolution_view("revert", "Revert: redeploy the approved Git versions, then re-check")
)
blp.route("/<uuid:incident_id>/keep-hotfix")(
    _resolution_view("keep_hotfix", "Keep the hotfix: the running versions become approved")
)


@blp.route("/<uuid:incident_id>/timeline")
class IncidentTimeline(MethodView):
    @requires("drift:read")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, TimelineEntrySchema(many=True), headers=PAGE_HEADERS)
    def get(self, incident_id, page, limit):
        """The incident's history, oldest first"""
        incidents.get(incident_id)
        return paginate(timeline.list_query(incident_id), page=page, limit=limit)


@blp.route("/<uuid:incident_id>/artifacts")
class IncidentArtifacts(MethodView):
    @requires("drift:read")
    @blp.response(200, ArtifactSchema(many=True))
    def get(self, incident_id):
        """The reconciliation artifacts of the incident's resolutions"""
        return resolution.artifacts(incident_id)
