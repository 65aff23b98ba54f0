"""Canonical workflows: the list, the environment matrix, diffs, history from Git, onboarding
and repo sync."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import (
    canonical_diff,
    canonical_jobs,
    canonical_onboarding,
    canonicals,
    restore,
    workflow_matrix,
)
from web.api.jobs import JobSchema, accepted
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import MAX_LIMIT, PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "canonical",
    __name__,
    url_prefix="/canonical-workflows",
    description="One identity per workflow across environments, its approved copies in Git",
)

_SIDE = (
    "env:<environment id> (what it runs), git:<environment id> (its approved copy) or "
    "git:<environment id>@<commit>"
)


class CanonicalSchema(ma.Schema):
    id = ma.fields.UUID()
    name = ma.fields.String()
    canonical_slug = ma.fields.String(data_key="slug")
    created_at = ma.fields.DateTime()
    deleted_at = ma.fields.DateTime(allow_none=True)


class CanonicalListArgs(PageArgs):
    name = ma.fields.String(validate=ma.validate.Length(max=200))
    include_deleted = ma.fields.Boolean(load_default=False)


class MatrixArgs(ma.Schema):
    state = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(workflow_matrix.STATES)),
        load_default=list,
        metadata={"description": "Rows with at least one cell in these states"},
    )
    environment_id = ma.fields.List(ma.fields.UUID(), load_default=None)
    name = ma.fields.String(validate=ma.validate.Length(max=200), load_default=None)
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_LIMIT))


class MatrixEnvironmentSchema(ma.Schema):
    id = ma.fields.UUID()
    name = ma.fields.String()
    environment_class = ma.fields.String()
    untracked = ma.fields.Integer(metadata={"description": "Workflows linked to nothing"})


class MatrixCellSchema(ma.Schema):
    state = ma.fields.String(metadata={"description": ", ".join(workflow_matrix.STATES)})
    workflow_id = ma.fields.UUID(allow_none=True)
    n8n_id = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    active = ma.fields.Boolean(allow_none=True)
    runtime_digest = ma.fields.String(allow_none=True)
    approved_digest = ma.fields.String(allow_none=True)
    commit = ma.fields.String(allow_none=True)
    diff = ma.fields.String(allow_none=True, metadata={"description": "The diff that explains"})


class MatrixRowSchema(ma.Schema):
    canonical_id = ma.fields.UUID()
    name = ma.fields.String()
    slug = ma.fields.String()
    cells = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(MatrixCellSchema))


class MatrixSchema(ma.Schema):
    environments = ma.fields.List(ma.fields.Nested(MatrixEnvironmentSchema))
    rows = ma.fields.List(ma.fields.Nested(MatrixRowSchema))
    has_more = ma.fields.Boolean()


class DiffArgs(ma.Schema):
    left = ma.fields.String(required=True, metadata={"description": _SIDE})
    right = ma.fields.String(required=True, metadata={"description": _SIDE})


class DiffSchema(ma.Schema):
    canonical_id = ma.fields.UUID()
    left = ma.fields.Dict(metadata={"description": "The side, its commit or n8n id, its path"})
    right = ma.fields.Dict()
    identical = ma.fields.Boolean(metadata={"description": "The semantic digests are equal"})
    digests = ma.fields.Dict()
    risk = ma.fields.Dict()
    summary = ma.fields.Dict()
    changes = ma.fields.List(
        ma.fields.Dict(), metadata={"description": "Nodes, parameters, connections, settings"}
    )
    cosmetic = ma.fields.List(ma.fields.Dict())
    ignored = ma.fields.List(ma.fields.Dict(), metadata={"description": "Covered by rules"})
    tags = ma.fields.Dict()
    active = ma.fields.Dict(allow_none=True)


class HistoryArgs(ma.Schema):
    environment_id = ma.fields.UUID(required=True)
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))
    skip = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0))


class ContentArgs(ma.Schema):
    environment_id = ma.fields.UUID(required=True)
    commit = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9a-fA-F]{4,64}$"))


class CommitSchema(ma.Schema):
    sha = ma.fields.String()
    subject = ma.fields.String()
    message = ma.fields.String()
    author_name = ma.fields.String()
    author_email = ma.fields.String()
    authored_at = ma.fields.DateTime()
    committed_at = ma.fields.DateTime()
    operation = ma.fields.String(allow_none=True)
    job_id = ma.fields.String(allow_none=True)
    user_id = ma.fields.String(allow_none=True)
    links = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    path = ma.fields.String()


class ContentSchema(ma.Schema):
    path = ma.fields.String()
    commit = ma.fields.String()
    blob_sha = ma.fields.String()
    content = ma.fields.Function(lambda obj: obj["content"].decode(errors="replace"))


class PreflightArgs(ma.Schema):
    anchor_id = ma.fields.UUID(required=True)


class PreflightSchema(ma.Schema):
    ready = ma.fields.Boolean()
    anchor_id = ma.fields.UUID()
    checks = ma.fields.List(ma.fields.Dict())


class RepoSyncSchema(ma.Schema):
    environment_id = ma.fields.UUID(load_default=None, metadata={"description": "Default: all"})


@blp.route("")
class Canonicals(MethodView):
    @requires("canonical:read")
    @blp.arguments(CanonicalListArgs, location="query", as_kwargs=True)
    @blp.response(200, CanonicalSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, **filters):
        """List canonical workflows by slug (filter: name)"""
        return paginate(canonicals.list_query(**filters), page=page, limit=limit)


@blp.route("/<uuid:canonical_id>")
class CanonicalById(MethodView):
    @requires("canonical:read")
    @blp.response(200, CanonicalSchema)
    def get(self, canonical_id):
        """One canonical workflow"""
        return canonicals.get(canonical_id)


@blp.route("/matrix")
class Matrix(MethodView):
    @requires("canonical:read")
    @blp.arguments(MatrixArgs, location="query")
    @blp.response(200, MatrixSchema)
    def get(self, args):
        """Canonical workflows x environments: in_sync, drift, out_of_date, missing, ..."""
        return workflow_matrix.matrix(
            states=tuple(args["state"]),
            environment_ids=args["environment_id"],
            name=args["name"],
            page=args["page"],
            limit=args["limit"],
        )


@blp.route("/<uuid:canonical_id>/diff")
class Diff(MethodView):
    @requires("canonical:read")
    @blp.arguments(DiffArgs, location="query")
    @blp.response(200, DiffSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="A side has no such version")
    def get(self, args, canonical_id):
        """How two versions differ: Git vs environment, environment vs environment, commits"""
        return canonical_diff.diff(canonical_id, args["left"], args["right"])


@blp.route("/<uuid:canonical_id>/history")
class History(MethodView):
    @requires("canonical:read")
    @blp.arguments(HistoryArgs, location="query")
    @blp.response(200, CommitSchema(many=True))
    def get(self, args, canonical_id):
        """Commits touching the workflow's file in an environment's folder, newest first"""
        return restore.history(
            canonical_id, args["environment_id"], limit=args["limit"], skip=args["skip"]
        )


@blp.route("/<uuid:canonical_id>/content")
class Content(MethodView):
    @requires("canonical:read")
    @blp.arguments(ContentArgs, location="query")
    @blp.response(200, ContentSchema)
    def get(self, args, canonical_id):
        """The workflow's file in an environment's folder at any commit"""
        return restore.content(canonical_id, args["environment_id"], args["commit"])


@blp.route("/onboarding/preflight")
class OnboardingPreflight(MethodView):
    @requires("canonical:read")
    @blp.arguments(PreflightArgs, location="query")
    @blp.response(200, PreflightSchema)
    def get(self, args):
        """Whether onboarding from this anchor environment can run, check by check"""
        return canonical_onboarding.preflight(args["anchor_id"])


@blp.route("/onboarding")
class Onboarding(MethodView):
    @requires("canonical:read")
    @blp.response(200, JobSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No onboarding has run")
    def get(self):
        """The latest onboarding: its job, progress and completion report (linked,
        ambiguous, unmatched per environment)"""
        return canonical_onboarding.completion()

    @requires("canonical:onboard")
    @blp.arguments(PreflightArgs)
    @blp.response(202, JobSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Preflight failed, or one runs")
    def post(self, data):
        """Adopt an anchor environment's workflows; its report is the job's result"""
        job = canonical_jobs.start_onboarding(data["anchor_id"], principal=current_principal())
        return accepted(job)


@blp.route("/repo-sync")
class RepoSync(MethodView):
    @requires("canonical:sync")
    @blp.arguments(RepoSyncSchema)
    @blp.response(202, JobSchema)
    def post(self, data):
        """Read Git into the approved-copy cache (edits people made in Git)"""
        job = canonical_jobs.start_repo_sync(
            principal=current_principal(), env_id=data["environment_id"]
        )
        return accepted(job)
