"""An environment's workflows, as synced: list, read the cached definition, ignore, acknowledge."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.workflows import MAPPING_STATUSES
from services import workflow_activation, workflows
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "workflows",
    __name__,
    url_prefix="/environments/<uuid:env_id>/workflows",
    description="Workflows of an environment, as the last sync saw them",
)


class WorkflowSchema(ma.Schema):
    id = ma.fields.UUID()
    environment_id = ma.fields.UUID()
    n8n_workflow_id = ma.fields.String()
    workflow_name = ma.fields.String(data_key="name")
    status = ma.fields.String()
    ignored = ma.fields.Function(
        lambda mapping: mapping.status == "ignored",
        metadata={"description": "Kept across syncs without being tracked (PATCH sets it)"},
    )
    canonical_id = ma.fields.UUID(allow_none=True)
    is_active = ma.fields.Boolean(data_key="active")
    is_archived = ma.fields.Boolean(data_key="archived")
    tags = ma.fields.List(ma.fields.String())
    env_content_hash = ma.fields.String(allow_none=True)
    n8n_updated_at = ma.fields.DateTime(allow_none=True)
    missing_since = ma.fields.DateTime(allow_none=True)
    updated_at = ma.fields.DateTime()


class WorkflowDetailSchema(WorkflowSchema):
    workflow_data = ma.fields.Dict(
        data_key="definition",
        allow_none=True,
        metadata={"description": "The cached n8n definition; null when over the size cap"},
    )
    workflow_data_bytes = ma.fields.Integer(data_key="definition_bytes", allow_none=True)


class WorkflowListArgs(PageArgs):
    status = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(MAPPING_STATUSES)))
    active = ma.fields.Boolean()
    name = ma.fields.String(validate=ma.validate.Length(max=200))
    tag = ma.fields.String(validate=ma.validate.Length(max=200))


class WorkflowUpdateSchema(ma.Schema):
    ignored = ma.fields.Boolean(required=True)


@blp.route("")
class Workflows(MethodView):
    @requires("workflows:read")
    @blp.arguments(WorkflowListArgs, location="query", as_kwargs=True)
    @blp.response(200, WorkflowSchema(many=True), headers=PAGE_HEADERS)
    def get(self, env_id, page, limit, status=(), **filters):
        """List the environment's workflows (filters: status, active, name, tag)"""
        query = workflows.list_query(env_id, status=tuple(status), **filters)
        return paginate(query, page=page, limit=limit)


@blp.route("/<uuid:workflow_id>")
class WorkflowById(MethodView):
    @requires("workflows:read")
    @blp.response(200, WorkflowDetailSchema)
    def get(self, env_id, workflow_id):
        """One workflow with its cached definition"""
        return workflows.get(env_id, workflow_id)

    @requires("workflows:manage")
    @blp.arguments(WorkflowUpdateSchema)
    @blp.response(200, WorkflowSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Not allowed from its status")
    def patch(self, data, env_id, workflow_id):
        """Ignore the workflow (kept across syncs) or stop ignoring it"""
        return workflows.set_ignored(env_id, workflow_id, ignored=data["ignored"])


@blp.route("/<uuid:workflow_id>/acknowledge-deletion")
class WorkflowAcknowledgeDeletion(MethodView):
    @requires("workflows:manage")
    @blp.response(200, WorkflowSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The workflow is not missing")
    def post(self, env_id, workflow_id):
        """Confirm a missing workflow is gone for good (status deleted)"""
        return workflows.acknowledge_deletion(env_id, workflow_id)


class ActivationResultSchema(ma.Schema):
    id = ma.fields.UUID()
    n8n_workflow_id = ma.fields.String()
    active = ma.fields.Boolean()
    ok = ma.fields.Boolean()
    error = ma.fields.String(allow_none=True)


class BulkActivationSchema(ma.Schema):
    workflow_ids = ma.fields.List(
        ma.fields.UUID(),
        required=True,
        validate=ma.validate.Length(min=1, max=workflow_activation.MAX_BULK),
    )


def _switch(env_id, workflow_ids, *, active: bool):
    return workflow_activation.set_active(
        env_id, workflow_ids, active=active, principal=current_principal()
    )


@blp.route("/<uuid:workflow_id>/activate")
class WorkflowActivate(MethodView):
    @requires("workflows:manage")
    @blp.response(200, ActivationResultSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="The environment action guard refuses")
    def post(self, env_id, workflow_id):
        """Activate the workflow in n8n"""
        return _switch(env_id, [workflow_id], active=True)[0]


@blp.route("/<uuid:workflow_id>/deactivate")
class WorkflowDeactivate(MethodView):
    @requires("workflows:manage")
    @blp.response(200, ActivationResultSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="The environment action guard refuses")
    def post(self, env_id, workflow_id):
        """Deactivate the workflow in n8n"""
        return _switch(env_id, [workflow_id], active=False)[0]


@blp.route("/bulk-activate")
class WorkflowBulkActivate(MethodView):
    @requires("workflows:manage")
    @blp.arguments(BulkActivationSchema)
    @blp.response(200, ActivationResultSchema(many=True))
    def post(self, data, env_id):
        """Activate several workflows; each one's result"""
        return _switch(env_id, data["workflow_ids"], active=True)


@blp.route("/bulk-deactivate")
class WorkflowBulkDeactivate(MethodView):
    @requires("workflows:manage")
    @blp.arguments(BulkActivationSchema)
    @blp.response(200, ActivationResultSchema(many=True))
    def post(self, data, env_id):
        """Deactivate several workflows; each one's result"""
        return _switch(env_id, data["workflow_ids"], active=False)
