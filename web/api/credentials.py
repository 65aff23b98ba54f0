"""Credentials: each environment's n8n credential metadata (never secrets) and its health."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.credentials import CREDENTIAL_SOURCES, HEALTH_METHODS, HEALTH_STATUSES
from services import credentials
from web.auth import requires
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "credentials",
    __name__,
    url_prefix="/credentials",
    description="n8n credentials per environment (metadata only) and their health",
)


class CredentialHealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"enum": list(HEALTH_STATUSES)})
    error_message = ma.fields.String(
        allow_none=True, metadata={"description": "Why it is not healthy"}
    )
    check_method = ma.fields.String(
        metadata={"enum": list(HEALTH_METHODS), "description": "n8n's test, or recent executions"}
    )
    last_checked_at = ma.fields.DateTime()


class ProjectShareSchema(ma.Schema):
    project_id = ma.fields.String(allow_none=True)
    project_name = ma.fields.String(allow_none=True)
    role = ma.fields.String(allow_none=True)


class CredentialSchema(ma.Schema):
    id = ma.fields.UUID()
    environment_id = ma.fields.UUID()
    n8n_credential_id = ma.fields.String()
    name = ma.fields.String()
    type = ma.fields.String(metadata={"description": "n8n credential type, e.g. slackApi"})
    source = ma.fields.String(
        metadata={"enum": list(CREDENTIAL_SOURCES), "description": "n8n's list, or workflow nodes"}
    )
    shared_with_projects = ma.fields.List(ma.fields.Nested(ProjectShareSchema))
    used_by_count = ma.fields.Integer(metadata={"description": "Workflows whose nodes use it"})
    health = ma.fields.Nested(
        CredentialHealthSchema,
        allow_none=True,
        metadata={"description": "null until first checked"},
    )
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class UsingWorkflowSchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "The n8n workflow id"})
    name = ma.fields.String(allow_none=True)


class CredentialDetailSchema(CredentialSchema):
    used_by_workflows = ma.fields.List(ma.fields.Nested(UsingWorkflowSchema))


class CredentialListArgs(PageArgs):
    environment_id = ma.fields.UUID()
    credential_type = ma.fields.String(data_key="type")
    health = ma.fields.String(
        validate=ma.validate.OneOf((*HEALTH_STATUSES, credentials.UNCHECKED)),
        metadata={"description": f"A health status, or {credentials.UNCHECKED!r}"},
    )


@blp.route("")
class Credentials(MethodView):
    @requires("credentials:read")
    @blp.arguments(CredentialListArgs, location="query", as_kwargs=True)
    @blp.response(200, CredentialSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, **filters):
        """List credentials with their health"""
        return paginate(credentials.list_query(**filters), page=page, limit=limit)


@blp.route("/<uuid:credential_id>")
class CredentialById(MethodView):
    @requires("credentials:read")
    @blp.response(200, CredentialDetailSchema)
    def get(self, credential_id):
        """One credential with its health and the workflows that use it"""
        return credentials.get(credential_id)
