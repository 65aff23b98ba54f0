"""An environment's Git: configuration (secrets write-only), connection test, and attaching
the embedded repository to a remote."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.environments import GIT_PROVIDERS
from services.git import settings as git_settings
from services.git.ssh_keys import MAX_KNOWN_HOSTS_CHARS
from web.api.jobs import JobSchema, accepted
from web.auth import current_principal, requires
from web.errors import ErrorSchema

blp = Blueprint(
    "git",
    __name__,
    url_prefix="/environments",
    description="Each environment's Git repository, branch, folder and credentials",
)

_WRITE_ONLY = "Write-only: stored encrypted, never returned. Leave out to keep, null to clear."


class GitSettingsSchema(ma.Schema):
    environment_id = ma.fields.UUID()
    repository_url = ma.fields.String(
        allow_none=True, metadata={"description": "null: the tenant's embedded repository"}
    )
    uses_embedded_repository = ma.fields.Boolean()
    embedded_available = ma.fields.Boolean(
        metadata={"description": "False where workers run on several hosts (EMBEDDED_GIT off)"}
    )
    provider = ma.fields.String(allow_none=True)
    username = ma.fields.String(allow_none=True)
    default_username = ma.fields.String(
        allow_none=True, metadata={"description": "Sent with the token when username is unset"}
    )
    branch = ma.fields.String()
    folder = ma.fields.String()
    auth_method = ma.fields.String(metadata={"description": "token, ssh_key or none"})
    has_token = ma.fields.Boolean()
    has_ssh_key = ma.fields.Boolean()
    ssh_public_key = ma.fields.String(
        allow_none=True, metadata={"description": "Add it to the repository as a deploy key"}
    )
    ssh_key_fingerprint = ma.fields.String(allow_none=True)
    known_hosts = ma.fields.String(allow_none=True)
    attach_job_id = ma.fields.UUID(
        allow_none=True, metadata={"description": "Set while the embedded history moves here"}
    )


class GitSettingsInputSchema(ma.Schema):
    repository_url = ma.fields.String(
        required=True,
        allow_none=True,
        validate=ma.validate.Length(max=2000),
        metadata={"description": "https://..., ssh://... or git@host:owner/repo.git; null "
                  "for the embedded repository"},
    )  # fmt: skip
    branch = ma.fields.String(allow_none=True, validate=ma.validate.Length(min=1, max=255))
    folder = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(min=1, max=255),
        metadata={"description": "This environment's folder; default: from its name, kept"},
    )
    provider = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(GIT_PROVIDERS))
    username = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=255))
    token = ma.fields.String(
        load_only=True,
        allow_none=True,
        validate=ma.validate.Length(min=1, max=1000),
        metadata={"description": _WRITE_ONLY},
    )
    ssh_private_key = ma.fields.String(
        load_only=True,
        allow_none=True,
        validate=ma.validate.Length(min=1, max=20_000),
        metadata={"description": _WRITE_ONLY},
    )
    generate_ssh_key = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Generate an Ed25519 deploy key; its public half is returned"},
    )
    known_hosts = ma.fields.String(
        allow_none=True, validate=ma.validate.Length(max=MAX_KNOWN_HOSTS_CHARS)
    )


class GitAttachSchema(GitSettingsInputSchema):
    repository_url = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    all_environments = ma.fields.Boolean(
        load_default=True,
        metadata={"description": "Move every environment still on the embedded repository"},
    )


class GitCheckSchema(ma.Schema):
    ok = ma.fields.Boolean()
    status = ma.fields.String(
        metadata={
            "description": "ok, empty_repository, embedded, auth_failed, not_found, "
            "branch_missing, no_write_access, unreachable, tls_error, timeout, "
            "host_key_unknown, host_key_mismatch, refused_address, remote_required, ..."
        }
    )
    message = ma.fields.String()
    repository = ma.fields.String()
    branch = ma.fields.String()
    head = ma.fields.String(allow_none=True)
    default_branch = ma.fields.String(allow_none=True)
    branches = ma.fields.List(ma.fields.String())
    writable = ma.fields.Boolean(allow_none=True)
    latency_ms = ma.fields.Integer(allow_none=True)


@blp.route("/<uuid:env_id>/git")
class EnvironmentGit(MethodView):
    @requires("git:read")
    @blp.response(200, GitSettingsSchema)
    def get(self, env_id):
        """This environment's Git configuration (secrets only as flags)"""
        return git_settings.get_settings(env_id)

    @requires("git:write")
    @blp.arguments(GitSettingsInputSchema)
    @blp.response(200, GitSettingsSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="A remote is required here")
    def put(self, data, env_id):
        """Set the repository, branch, folder and credentials (a new host drops old secrets)"""
        return git_settings.update_settings(env_id, **data)


@blp.route("/<uuid:env_id>/git/test")
class EnvironmentGitTest(MethodView):
    @requires("git:test")
    @blp.response(200, GitCheckSchema)
    def post(self, env_id):
        """Test the Git remote now and say exactly what is wrong"""
        return git_settings.run_check(env_id)


@blp.route("/<uuid:env_id>/git/attach")
class EnvironmentGitAttach(MethodView):
    @requires("git:write")
    @blp.arguments(GitAttachSchema)
    @blp.response(202, JobSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Not on the embedded repository")
    def post(self, data, env_id):
        """Push the embedded repository's history to a remote, then use that remote"""
        _, job = git_settings.start_attach(env_id, user_id=current_principal().user_id, **data)
        return accepted(job)
