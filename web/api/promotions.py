"""Promotions: compare, validate, request, approve or reject, cancel, execute (now or on
schedule) and roll back."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.promotions import PROMOTION_STATUSES
from services import environments
from services.drift import gate as drift_gate
from services.promotions import deployments, lifecycle
from web.api.deployments import DeploymentSchema
from web.api.jobs import idempotency_key
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "promotions",
    __name__,
    url_prefix="/promotions",
    description="Moving approved workflows from one environment to the next",
)


class PromotionSelectionSchema(ma.Schema):
    pipeline_id = ma.fields.UUID(required=True)
    source_environment_id = ma.fields.UUID(required=True)
    target_environment_id = ma.fields.UUID(required=True)
    canonical_ids = ma.fields.List(
        ma.fields.UUID(),
        load_default=None,
        validate=ma.validate.Length(min=1, max=1000),
        metadata={"description": "Canonical workflows to promote (compare: all when omitted)"},
    )


class PromotionCreateSchema(PromotionSelectionSchema):
    canonical_ids = ma.fields.List(
        ma.fields.UUID(), required=True, validate=ma.validate.Length(min=1, max=1000)
    )


class PromotionSchema(ma.Schema):
    id = ma.fields.UUID()
    pipeline_id = ma.fields.UUID()
    stage_index = ma.fields.Integer()
    #: The previous stage's promotion whose verified completion opened this one (auto advance).
    advanced_from_id = ma.fields.UUID(allow_none=True)
    source_environment_id = ma.fields.UUID()
    target_environment_id = ma.fields.UUID()
    status = ma.fields.String()
    workflow_selections = ma.fields.List(ma.fields.Dict())
    gate_results = ma.fields.Dict(allow_none=True)
    execution_result = ma.fields.Dict(allow_none=True)
    target_pre_snapshot_id = ma.fields.UUID(allow_none=True)
    target_post_snapshot_id = ma.fields.UUID(allow_none=True)
    created_by = ma.fields.UUID(allow_none=True)
    approved_by = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class PromotionApprovalSchema(ma.Schema):
    user_id = ma.fields.UUID(allow_none=True)
    decision = ma.fields.String()
    comment = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class PromotionDecisionSchema(ma.Schema):
    comment = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))


class PromotionExecuteSchema(ma.Schema):
    scheduled_for = ma.fields.AwareDateTime(
        load_default=None, metadata={"description": "Run at this time (else now)"}
    )


class PromotionListArgs(PageArgs):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(PROMOTION_STATUSES))
    pipeline_id = ma.fields.UUID(load_default=None)
    target_environment_id = ma.fields.UUID(load_default=None)


@blp.route("")
class Promotions(MethodView):
    @requires("promotions:read")
    @blp.arguments(PromotionListArgs, location="query", as_kwargs=True)
    @blp.response(200, PromotionSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, **filters):
        """List promotions, newest first"""
        return paginate(lifecycle.list_query(**filters), page=page, limit=limit)

    @requires("promotions:request")
    @blp.arguments(PromotionCreateSchema)
    @blp.response(201, PromotionSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The pipeline is inactive")
    def post(self, data):
        """Request a promotion (pending, or pending_approval when its stage needs one)"""
        return lifecycle.create(principal=current_principal(), **data)


@blp.route("/compare")
class Compare(MethodView):
    @requires("promotions:read")
    @blp.arguments(PromotionSelectionSchema)
    @blp.response(200)
    def post(self, data):
        """Per workflow: status in the target, risk level and structured diff"""
        return lifecycle.compare(principal=current_principal(), **data)


@blp.route("/validate")
class Validate(MethodView):
    @requires("promotions:read")
    @blp.arguments(PromotionSelectionSchema)
    @blp.response(200)
    def post(self, data):
        """Run every gate: all blocking errors and warnings at once"""
        return lifecycle.validate(principal=current_principal(), **data)


@blp.route("/drift-check/<uuid:env_id>")
class DriftCheck(MethodView):
    @requires("promotions:read")
    @blp.response(200)
    def get(self, env_id):
        """Whether drift blocks promoting into an environment"""
        environments.get(env_id)  # the gate fails closed; an unknown environment is a 404
        return drift_gate.evaluate(env_id).as_dict()


@blp.route("/<uuid:promotion_id>")
class PromotionById(MethodView):
    @requires("promotions:read")
    @blp.response(200, PromotionSchema)
    def get(self, promotion_id):
        """One promotion"""
        return lifecycle.get(promotion_id)


@blp.route("/<uuid:promotion_id>/diff")
class PromotionDiff(MethodView):
    @requires("promotions:read")
    @blp.response(200)
    def get(self, promotion_id):
        """The promotion's workflows compared with the target as it is now"""
        return lifecycle.diff(promotion_id, principal=current_principal())


@blp.route("/<uuid:promotion_id>/approvals")
class Approvals(MethodView):
    @requires("promotions:read")
    @blp.response(200, PromotionApprovalSchema(many=True))
    def get(self, promotion_id):
        """Who approved or rejected it"""
        return lifecycle.approvals_of(promotion_id)


@blp.route("/<uuid:promotion_id>/approve")
class Approve(MethodView):
    @requires("promotions:approve")
    @blp.arguments(PromotionDecisionSchema)
    @blp.response(200, PromotionSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Not waiting for approval")
    def post(self, data, promotion_id):
        """Approve (never one's own); approved once one or all approvers did"""
        return lifecycle.decide(promotion_id, principal=current_principal(), approve=True, **data)


@blp.route("/<uuid:promotion_id>/reject")
class Reject(MethodView):
    @requires("promotions:approve")
    @blp.arguments(PromotionDecisionSchema)
    @blp.response(200, PromotionSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Not waiting for approval")
    def post(self, data, promotion_id):
        """Reject (never one's own)"""
        return lifecycle.decide(promotion_id, principal=current_principal(), approve=False, **data)


@blp.route("/<uuid:promotion_id>/cancel")
class Cancel(MethodView):
    @requires("promotions:request")
    @blp.response(200, PromotionSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="It ran or is running")
    def post(self, promotion_id):
        """Cancel a promotion that has not started"""
        return lifecycle.cancel(promotion_id, principal=current_principal())


@blp.route("/<uuid:promotion_id>/execute")
class Execute(MethodView):
    @requires("promotions:execute")
    @blp.arguments(PromotionExecuteSchema)
    @blp.response(202, DeploymentSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Gates block it, or not approved")
    def post(self, data, promotion_id):
        """Execute now (gates first) or schedule; answers the deployment"""
        return deployments.execute(
            promotion_id, principal=current_principal(), idempotency_key=idempotency_key(), **data
        )


@blp.route("/<uuid:promotion_id>/rollback")
class Rollback(MethodView):
    @requires("promotions:execute")
    @blp.response(202, DeploymentSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="It has not run")
    def post(self, promotion_id):
        """Roll the target back to the pre-promotion snapshot (a job)"""
        return deployments.rollback(promotion_id, principal=current_principal())
