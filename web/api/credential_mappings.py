"""Logical credentials and their mapping to each environment's n8n credential."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services.promotions import credentials
from web.auth import requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "credential_mappings",
    __name__,
    url_prefix="/logical-credentials",
    description="Credentials as workflows name them, mapped per environment",
)

_NAME = ma.validate.Length(min=1, max=200)


class LogicalCredentialSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    credential_type = ma.fields.String(required=True, validate=_NAME)
    name = ma.fields.String(required=True, validate=_NAME)
    description = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))
    created_at = ma.fields.DateTime(dump_only=True)


class CredentialMappingSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    logical_credential_id = ma.fields.UUID(required=True)
    environment_id = ma.fields.UUID(required=True)
    n8n_credential_type = ma.fields.String(validate=_NAME, load_default=None)
    n8n_credential_name = ma.fields.String(required=True, validate=_NAME)
    created_at = ma.fields.DateTime(dump_only=True)


class CredentialMappingArgs(PageArgs):
    environment_id = ma.fields.UUID(load_default=None)
    logical_credential_id = ma.fields.UUID(load_default=None)


class CredentialSuggestionArgs(ma.Schema):
    environment_id = ma.fields.UUID(required=True)


@blp.route("")
class LogicalCredentials(MethodView):
    @requires("credential_mappings:read")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, LogicalCredentialSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit):
        """List logical credentials"""
        return paginate(credentials.list_logical(), page=page, limit=limit)

    @requires("credential_mappings:write")
    @blp.arguments(LogicalCredentialSchema)
    @blp.response(201, LogicalCredentialSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="That type and name exist")
    def post(self, data):
        """Create a logical credential"""
        return credentials.create_logical(**data)


@blp.route("/<uuid:logical_id>")
class LogicalCredentialById(MethodView):
    @requires("credential_mappings:read")
    @blp.response(200, LogicalCredentialSchema)
    def get(self, logical_id):
        """One logical credential"""
        return credentials.get_logical(logical_id)

    @requires("credential_mappings:write")
    @blp.arguments(LogicalCredentialSchema(partial=True))
    @blp.response(200, LogicalCredentialSchema)
    def patch(self, data, logical_id):
        """Rename a logical credential"""
        return credentials.update_logical(logical_id, **data)

    @requires("credential_mappings:write")
    @blp.response(204)
    def delete(self, logical_id):
        """Delete a logical credential and its mappings"""
        credentials.delete_logical(logical_id)


@blp.route("/mappings")
class Mappings(MethodView):
    @requires("credential_mappings:read")
    @blp.arguments(CredentialMappingArgs, location="query", as_kwargs=True)
    @blp.response(200, CredentialMappingSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, **filters):
        """List mappings (by environment or logical credential)"""
        return paginate(credentials.list_mappings(**filters), page=page, limit=limit)

    @requires("credential_mappings:write")
    @blp.arguments(CredentialMappingSchema)
    @blp.response(201, CredentialMappingSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Mapped there already")
    def post(self, data):
        """Map a logical credential to an environment's credential"""
        return credentials.create_mapping(**data)


@blp.route("/mappings/<uuid:mapping_id>")
class MappingById(MethodView):
    @requires("credential_mappings:read")
    @blp.response(200, CredentialMappingSchema)
    def get(self, mapping_id):
        """One mapping"""
        return credentials.get_mapping(mapping_id)

    @requires("credential_mappings:write")
    @blp.arguments(
        CredentialMappingSchema(partial=True, only=("n8n_credential_type", "n8n_credential_name"))
    )
    @blp.response(200, CredentialMappingSchema)
    def patch(self, data, mapping_id):
        """Point a mapping at another credential"""
        return credentials.update_mapping(mapping_id, **data)

    @requires("credential_mappings:write")
    @blp.response(204)
    def delete(self, mapping_id):
        """Delete a mapping"""
        credentials.delete_mapping(mapping_id)


@blp.route("/suggestions")
class Suggestions(MethodView):
    @requires("credential_mappings:read")
    @blp.arguments(CredentialSuggestionArgs, location="query", as_kwargs=True)
    @blp.response(200)
    def get(self, environment_id):
        """Mapping suggestions for an environment, by type and name from its inventory"""
        return {"suggestions": credentials.suggestions(environment_id)}
