"""Environments: connected n8n instances, their connection test, and the jobs they start."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.environments import DRIFT_HANDLING_MODES, ENVIRONMENT_CLASSES, PROVIDERS
from services import environments
from web.api.jobs import JobSchema, accepted
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "environments", __name__, url_prefix="/environments", description="Connected n8n instances"
)


class EnvironmentSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    url = ma.fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    api_key = ma.fields.String(
        required=True,
        load_only=True,
        validate=ma.validate.Length(min=1, max=2000),
        metadata={"description": "Write-only: stored encrypted, never returned"},
    )
    has_api_key = ma.fields.Method("_has_api_key", dump_only=True)
    provider = ma.fields.String(
        load_default="n8n",
        validate=ma.validate.OneOf(PROVIDERS),
        metadata={"description": "The automation platform it runs"},
    )
    environment_class = ma.fields.String(
        required=True, validate=ma.validate.OneOf(ENVIRONMENT_CLASSES)
    )
    drift_handling_mode = ma.fields.String(
        validate=ma.validate.OneOf(DRIFT_HANDLING_MODES),
        metadata={"description": "Defaults from the tenant's plan"},
    )
    environment_type_id = ma.fields.UUID(allow_none=True)
    github_repo_url = ma.fields.Url(allow_none=True, schemes={"https"})
    github_branch = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=255))
    git_folder = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=255))
    github_token = ma.fields.String(
        load_only=True,
        allow_none=True,
        validate=ma.validate.Length(max=2000),
        metadata={"description": "Write-only: stored encrypted, never returned"},
    )
    has_github_token = ma.fields.Method("_has_github_token", dump_only=True)
    n8n_version_family = ma.fields.String(dump_only=True, allow_none=True)
    connection_status = ma.fields.String(dump_only=True)
    connection_checked_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    connection_error = ma.fields.String(dump_only=True, allow_none=True)
    consecutive_failures = ma.fields.Integer(
        dump_only=True, metadata={"description": "Failed checks in a row (heartbeat, jobs)"}
    )
    last_heartbeat_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    last_sync_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    last_execution_sync_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    last_credential_sync_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    drift_status = ma.fields.String(dump_only=True)
    drift_status_reason = ma.fields.String(dump_only=True, allow_none=True)
    last_drift_check_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    last_drift_detected_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    active_drift_incident_id = ma.fields.UUID(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)
    updated_at = ma.fields.DateTime(dump_only=True)

    def _has_api_key(self, env) -> bool:
        return env.api_key_encrypted is not None

    def _has_github_token(self, env) -> bool:
        return env.github_token_encrypted is not None


class EnvironmentCreatedSchema(EnvironmentSchema):
    onboarding_job = ma.fields.Nested(JobSchema, dump_only=True)


class EnvironmentListArgs(PageArgs):
    environment_class = ma.fields.String(validate=ma.validate.OneOf(ENVIRONMENT_CLASSES))


class ConnectionCheckSchema(ma.Schema):
    ok = ma.fields.Boolean()
    status = ma.fields.String(metadata={"description": "healthy, unreachable, unauthorized, ..."})
    message = ma.fields.String()
    version_family = ma.fields.String(allow_none=True)
    latency_ms = ma.fields.Integer(allow_none=True)


@blp.route("")
class Environments(MethodView):
    @requires("environments:read")
    @blp.arguments(EnvironmentListArgs, location="query", as_kwargs=True)
    @blp.response(200, EnvironmentSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, **filters):
        """List environments"""
        return paginate(environments.list_query(**filters), page=page, limit=limit)

    @requires("environments:write")
    @blp.arguments(EnvironmentSchema)
    @blp.response(201, EnvironmentCreatedSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The name is taken")
    @blp.alt_response(403, schema=ErrorSchema, description="The plan's environment limit")
    def post(self, data):
        """Connect an n8n instance; starts its onboarding job"""
        env, job = environments.create(user_id=current_principal().user_id, **data)
        env.onboarding_job = job
        return env


@blp.route("/<uuid:env_id>")
class EnvironmentById(MethodView):
    @requires("environments:read")
    @blp.response(200, EnvironmentSchema)
    def get(self, env_id):
        """One environment"""
        return environments.get(env_id)

    @requires("environments:write")
    @blp.arguments(EnvironmentSchema(partial=True))
    @blp.response(200, EnvironmentSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The name is taken")
    def patch(self, data, env_id):
        """Change an environment (secrets are replaced, never read back)"""
        return environments.update_environment(env_id, **data)

    @requires("environments:write")
    @blp.response(204)
    def delete(self, env_id):
        """Disconnect an environment and drop everything synced from it"""
        environments.delete(env_id)


@blp.route("/<uuid:env_id>/test")
class EnvironmentTest(MethodView):
    @requires("environments:test")
    @blp.response(200, ConnectionCheckSchema)
    def post(self, env_id):
        """Check the connection now and say exactly what is wrong"""
        return environments.test_connection(env_id)


@blp.route("/<uuid:env_id>/sync")
class EnvironmentSync(MethodView):
    @requires("environments:sync")
    @blp.response(202, JobSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="A sync is already pending or running")
    def post(self, env_id):
        """Start a sync of this environment's workflows"""
        return accepted(environments.start_job("sync", env_id, user_id=current_principal().user_id))


@blp.route("/<uuid:env_id>/sync-executions")
class EnvironmentIngestExecutions(MethodView):
    @requires("executions:ingest")
    @blp.response(202, JobSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="An ingestion is already under way")
    def post(self, env_id):
        """Start ingesting this environment's new and unfinished executions"""
        return accepted(
            environments.start_job(
                "execution_ingestion", env_id, user_id=current_principal().user_id
            )
        )


@blp.route("/<uuid:env_id>/sync-credentials")
class EnvironmentSyncCredentials(MethodView):
    @requires("credentials:check")
    @blp.response(202, JobSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="An inventory is already under way")
    def post(self, env_id):
        """Start taking the inventory of this environment's credentials (metadata only)"""
        return accepted(
            environments.start_job("credential_sync", env_id, user_id=current_principal().user_id)
        )


@blp.route("/<uuid:env_id>/check-credentials")
class EnvironmentCheckCredentials(MethodView):
    @requires("credentials:check")
    @blp.response(202, JobSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="A check is already under way")
    def post(self, env_id):
        """Start checking the health of this environment's credentials"""
        return accepted(
            environments.start_job("credential_health", env_id, user_id=current_principal().user_id)
        )
