"""Pipelines: routes between environments, each stage with gates, approvals, a schedule
window and policy flags."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services.promotions import pipelines
from web.auth import requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "pipelines",
    __name__,
    url_prefix="/pipelines",
    description="Promotion routes between environments",
)


class PipelineSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))
    stages = ma.fields.List(
        ma.fields.Nested(pipelines.StageSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=20),
    )
    is_active = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    updated_at = ma.fields.DateTime(dump_only=True)


class PipelineListArgs(PageArgs):
    active = ma.fields.Boolean(load_default=None)


@blp.route("")
class Pipelines(MethodView):
    @requires("pipelines:read")
    @blp.arguments(PipelineListArgs, location="query", as_kwargs=True)
    @blp.response(200, PipelineSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, active):
        """List pipelines"""
        return paginate(pipelines.list_query(active=active), page=page, limit=limit)

    @requires("pipelines:write")
    @blp.arguments(PipelineSchema)
    @blp.response(201, PipelineSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The name is taken")
    def post(self, data):
        """Create a pipeline"""
        return pipelines.create(**raw_stages(data))


@blp.route("/<uuid:pipeline_id>")
class PipelineById(MethodView):
    @requires("pipelines:read")
    @blp.response(200, PipelineSchema)
    def get(self, pipeline_id):
        """One pipeline"""
        return pipelines.get(pipeline_id)

    @requires("pipelines:write")
    @blp.arguments(PipelineSchema(partial=True))
    @blp.response(200, PipelineSchema)
    def patch(self, data, pipeline_id):
        """Change a pipeline's name, description or stages"""
        return pipelines.update(pipeline_id, **raw_stages(data))

    @requires("pipelines:write")
    @blp.response(204)
    @blp.alt_response(409, schema=ErrorSchema, description="Promotions used it: deactivate it")
    def delete(self, pipeline_id):
        """Delete a pipeline no promotion used"""
        pipelines.delete(pipeline_id)


@blp.route("/<uuid:pipeline_id>/activate")
class PipelineActivate(MethodView):
    @requires("pipelines:write")
    @blp.response(200, PipelineSchema)
    def post(self, pipeline_id):
        """Activate a pipeline"""
        return pipelines.set_active(pipeline_id, True)


@blp.route("/<uuid:pipeline_id>/deactivate")
class PipelineDeactivate(MethodView):
    @requires("pipelines:write")
    @blp.response(200, PipelineSchema)
    def post(self, pipeline_id):
        """Deactivate a pipeline (no new promotions along it)"""
        return pipelines.set_active(pipeline_id, False)


def raw_stages(data: dict) -> dict:
    """Stages back in their JSON form (the service validates them once more, in the tenant)."""
    if "stages" in data:
        data["stages"] = pipelines.StageSchema(many=True).dump(data["stages"])
    return data
