"""An environment's backups (snapshots in Git), restores, and the actions on its workflows
(link, unlink, ignore, unignore, create canonical, snapshot-only; bulk)."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import canonical_jobs, snapshots, unmanaged
from web.api.jobs import JobSchema, accepted
from web.api.workflows import WorkflowSchema
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "snapshots",
    __name__,
    url_prefix="/environments/<uuid:env_id>",
    description="Backups to Git, restores, and what is managed in an environment",
)

_N8N_IDS = ma.fields.List(
    ma.fields.String(validate=ma.validate.Length(min=1, max=100)),
    validate=ma.validate.Length(min=1, max=unmanaged.MAX_BULK),
    load_default=None,
)


class BackupSchema(ma.Schema):
    n8n_ids = _N8N_IDS


class RestoreSchema(ma.Schema):
    snapshot_id = ma.fields.UUID(load_default=None)
    commit = ma.fields.String(
        load_default=None, validate=ma.validate.Regexp(r"^[0-9a-fA-F]{4,64}$")
    )
    canonical_ids = ma.fields.List(
        ma.fields.UUID(), validate=ma.validate.Length(min=1, max=unmanaged.MAX_BULK),
        load_default=None,
    )  # fmt: skip
    n8n_ids = _N8N_IDS

    @ma.validates_schema
    def one_source(self, data, **_):
        if (data["snapshot_id"] is None) == (data["commit"] is None):
            raise ma.ValidationError("Give snapshot_id or commit.", "_schema")


class SnapshotSchema(ma.Schema):
    id = ma.fields.UUID()
    environment_id = ma.fields.UUID()
    snapshot_type = ma.fields.String()
    git_commit_sha = ma.fields.String(allow_none=True)
    created_by = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    workflows = ma.fields.List(ma.fields.Dict())


class ActionSchema(ma.Schema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(unmanaged.ACTIONS))
    workflow_ids = ma.fields.List(
        ma.fields.UUID(), required=True,
        validate=ma.validate.Length(min=1, max=unmanaged.MAX_BULK),
    )  # fmt: skip
    canonical_ids = ma.fields.List(
        ma.fields.UUID(),
        load_default=None,
        metadata={"description": "For link: the canonical workflow of each workflow, in order"},
    )


class ActionResultSchema(ma.Schema):
    action = ma.fields.String()
    warnings = ma.fields.List(ma.fields.String())
    workflows = ma.fields.List(ma.fields.Nested(WorkflowSchema))
    job = ma.fields.Nested(JobSchema, allow_none=True)


@blp.route("/backup")
class Backup(MethodView):
    @requires("snapshots:backup")
    @blp.arguments(BackupSchema)
    @blp.response(202, JobSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="The class does not allow it")
    def post(self, data, env_id):
        """Back up the environment's workflows (all, or some) to Git as one commit"""
        job, _ = canonical_jobs.start_backup(
            env_id, principal=current_principal(), n8n_ids=data["n8n_ids"]
        )
        return accepted(job)


@blp.route("/restore")
class Restore(MethodView):
    @requires("snapshots:restore")
    @blp.arguments(RestoreSchema)
    @blp.response(202, JobSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="The class does not allow it")
    def post(self, data, env_id):
        """Restore from a snapshot or a commit, in place (same n8n ids)"""
        job, _ = canonical_jobs.start_restore(env_id, principal=current_principal(), **data)
        return accepted(job)


@blp.route("/snapshots")
class Snapshots(MethodView):
    @requires("snapshots:read")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, SnapshotSchema(many=True), headers=PAGE_HEADERS)
    def get(self, env_id, page, limit):
        """The environment's snapshots, newest first"""
        return paginate(snapshots.list_query(env_id), page=page, limit=limit)


@blp.route("/snapshots/<uuid:snapshot_id>")
class SnapshotById(MethodView):
    @requires("snapshots:read")
    @blp.response(200, SnapshotSchema)
    def get(self, env_id, snapshot_id):
        """One snapshot with its commit and files"""
        return snapshots.get(env_id, snapshot_id)


@blp.route("/workflow-actions")
class WorkflowActions(MethodView):
    @requires("workflows:manage")
    @blp.arguments(ActionSchema)
    @blp.response(200, ActionResultSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="The class does not allow it")
    @blp.alt_response(409, schema=ErrorSchema, description="A workflow in the wrong state")
    def post(self, data, env_id):
        """Link, unlink, ignore, unignore, create canonical or snapshot-only (bulk)"""
        return unmanaged.apply(
            env_id,
            data["action"],
            data["workflow_ids"],
            principal=current_principal(),
            canonical_ids=data["canonical_ids"],
        )
