"""Deployments: promotions being carried out, now or at a scheduled time."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.promotions import DEPLOYMENT_STATUSES
from services.promotions import deployments
from web.api.jobs import ProgressSchema, idempotency_key
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "deployments",
    __name__,
    url_prefix="/deployments",
    description="Promotions carried out, now or on schedule",
)


class DeploymentSchema(ma.Schema):
    id = ma.fields.UUID()
    promotion_id = ma.fields.UUID()
    status = ma.fields.String()
    scheduled_for = ma.fields.DateTime(allow_none=True)
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)
    summary_json = ma.fields.Dict(data_key="summary")
    job_id = ma.fields.UUID(allow_none=True)
    rollback_job_id = ma.fields.UUID(allow_none=True)
    created_by = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()


class DeploymentWorkflowSchema(ma.Schema):
    workflow_id = ma.fields.String()
    workflow_name = ma.fields.String(allow_none=True)
    canonical_id = ma.fields.UUID(allow_none=True)
    status = ma.fields.String()
    action = ma.fields.String(allow_none=True)
    target_n8n_id = ma.fields.String(allow_none=True)
    error_message = ma.fields.String(allow_none=True)
    rollback_status = ma.fields.String(allow_none=True)
    promoted_at = ma.fields.DateTime(allow_none=True)
    #: Placeholder credentials it was deployed with (``{"type", "name", "placeholder", "id",
    #: "created"}``): fill each in n8n, then activate the workflow.
    placeholder_credentials = ma.fields.List(ma.fields.Dict())


class DeploymentDetailSchema(ma.Schema):
    deployment = ma.fields.Nested(DeploymentSchema)
    workflows = ma.fields.List(ma.fields.Nested(DeploymentWorkflowSchema))
    progress = ma.fields.Nested(ProgressSchema, allow_none=True)


class DeploymentCreateSchema(ma.Schema):
    promotion_id = ma.fields.UUID(required=True)
    scheduled_for = ma.fields.AwareDateTime(load_default=None)


class DeploymentListArgs(PageArgs):
    promotion_id = ma.fields.UUID(load_default=None)
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DEPLOYMENT_STATUSES))


@blp.route("")
class Deployments(MethodView):
    @requires("deployments:read")
    @blp.arguments(DeploymentListArgs, location="query", as_kwargs=True)
    @blp.response(200, DeploymentSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, **filters):
        """List deployments, newest first"""
        return paginate(deployments.list_query(**filters), page=page, limit=limit)

    @requires("promotions:execute")
    @blp.arguments(DeploymentCreateSchema)
    @blp.response(202, DeploymentSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Gates block it, or not approved")
    def post(self, data):
        """Deploy a promotion now, or schedule it (scheduled_for)"""
        return deployments.execute(
            data.pop("promotion_id"),
            principal=current_principal(),
            idempotency_key=idempotency_key(),
            **data,
        )


@blp.route("/<uuid:deployment_id>")
class DeploymentById(MethodView):
    @requires("deployments:read")
    @blp.response(200, DeploymentDetailSchema)
    def get(self, deployment_id):
        """A deployment, each workflow's outcome and its progress"""
        return deployments.detail(deployment_id)

    @requires("deployments:manage")
    @blp.response(204)
    @blp.alt_response(409, schema=ErrorSchema, description="It may still run")
    def delete(self, deployment_id):
        """Delete a finished deployment (soft)"""
        deployments.delete(deployment_id)


@blp.route("/<uuid:deployment_id>/cancel")
class CancelDeployment(MethodView):
    @requires("deployments:manage")
    @blp.response(200, DeploymentSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="It started already")
    def post(self, deployment_id):
        """Cancel a deployment before it starts"""
        return deployments.cancel(deployment_id)
