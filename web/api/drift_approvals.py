"""Drift approvals: request, approve (which performs the action), reject, cancel."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.drift import APPROVAL_STATUSES, APPROVAL_TYPES
from services.drift import approvals, lifecycle
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "drift_approvals",
    __name__,
    url_prefix="/drift-approvals",
    description="Approvals of drift actions: decided by someone other than the requester",
)


class ApprovalSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    incident_id = ma.fields.UUID(required=True)
    approval_type = ma.fields.String(required=True, validate=ma.validate.OneOf(APPROVAL_TYPES))
    status = ma.fields.String(dump_only=True)
    requested_by = ma.fields.UUID(dump_only=True, allow_none=True)
    reviewed_by = ma.fields.UUID(dump_only=True, allow_none=True)
    request_reason = ma.fields.String(validate=ma.validate.Length(min=1, max=2000))
    review_notes = ma.fields.String(dump_only=True, allow_none=True)
    ttl_extension_hours = ma.fields.Integer(
        allow_none=True, validate=ma.validate.Range(min=1, max=lifecycle.MAX_EXTENSION_HOURS)
    )
    action_params = ma.fields.Dict(
        metadata={"description": "The action's fields: reason, ticket_ref, resolution_type"}
    )
    reviewed_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    expires_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    executed_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    executed_by = ma.fields.UUID(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)


class ApprovalListArgs(PageArgs):
    incident_id = ma.fields.UUID()
    status = ma.fields.String(validate=ma.validate.OneOf(APPROVAL_STATUSES))


class ApprovalDecisionSchema(ma.Schema):
    notes = ma.fields.String(validate=ma.validate.Length(min=1, max=2000))


@blp.route("")
class Approvals(MethodView):
    @requires("drift:read")
    @blp.arguments(ApprovalListArgs, location="query", as_kwargs=True)
    @blp.response(200, ApprovalSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, **filters):
        """List approval requests, newest first"""
        return paginate(approvals.list_query(**filters), page=page, limit=limit)

    @requires("drift:request_approval")
    @blp.arguments(ApprovalSchema)
    @blp.response(201, ApprovalSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="One of this type is pending")
    def post(self, data):
        """Request an approval"""
        return approvals.request(
            data["incident_id"],
            data["approval_type"],
            principal=current_principal(),
            reason=data.get("request_reason"),
            ttl_extension_hours=data.get("ttl_extension_hours"),
            action_params=data.get("action_params"),
        )


@blp.route("/<uuid:approval_id>")
class ApprovalById(MethodView):
    @requires("drift:read")
    @blp.response(200, ApprovalSchema)
    def get(self, approval_id):
        """One approval request"""
        return approvals.get(approval_id)


@blp.route("/<uuid:approval_id>/approve")
class ApprovalApprove(MethodView):
    @requires("drift:approve")
    @blp.arguments(ApprovalDecisionSchema)
    @blp.response(200, ApprovalSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Decided already, or expired")
    def post(self, data, approval_id):
        """Approve, which performs the action (not your own request)"""
        return approvals.approve(approval_id, principal=current_principal(), **data)


@blp.route("/<uuid:approval_id>/reject")
class ApprovalReject(MethodView):
    @requires("drift:approve")
    @blp.arguments(ApprovalDecisionSchema)
    @blp.response(200, ApprovalSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Decided already, or expired")
    def post(self, data, approval_id):
        """Reject (not your own request)"""
        return approvals.reject(approval_id, principal=current_principal(), **data)


@blp.route("/<uuid:approval_id>/cancel")
class ApprovalCancel(MethodView):
    @requires("drift:request_approval")
    @blp.response(200, ApprovalSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Decided already")
    def post(self, approval_id):
        """Withdraw a pending request (its requester, or an admin)"""
        return approvals.cancel(approval_id, principal=current_principal())
