"""Environment types: a tenant's own labels for environments, one of them the default."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import environment_types
from web.auth import requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "environment_types",
    __name__,
    url_prefix="/environment-types",
    description="Tenant-defined environment types",
)


class EnvironmentTypeSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    slug = ma.fields.String(validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,99}$"))
    is_default = ma.fields.Boolean()
    created_at = ma.fields.DateTime(dump_only=True)


@blp.route("")
class EnvironmentTypes(MethodView):
    @requires("environment_types:read")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, EnvironmentTypeSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit):
        """List environment types"""
        return paginate(environment_types.list_query(), page=page, limit=limit)

    @requires("environment_types:write")
    @blp.arguments(EnvironmentTypeSchema)
    @blp.response(201, EnvironmentTypeSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The slug is taken")
    def post(self, data):
        """Create an environment type"""
        return environment_types.create(**data)


@blp.route("/<uuid:type_id>")
class EnvironmentTypeById(MethodView):
    @requires("environment_types:write")
    @blp.arguments(EnvironmentTypeSchema(partial=True))
    @blp.response(200, EnvironmentTypeSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The slug is taken, or no default left")
    def patch(self, data, type_id):
        """Rename a type or make it the default"""
        return environment_types.update_type(type_id, **data)

    @requires("environment_types:write")
    @blp.response(204)
    @blp.alt_response(409, schema=ErrorSchema, description="The default type")
    def delete(self, type_id):
        """Delete a type; its environments keep working without one"""
        environment_types.delete(type_id)
