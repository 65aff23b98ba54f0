"""Jobs: poll progress, cancel, rerun (one or in bulk), and queue statistics."""

from __future__ import annotations

import marshmallow as ma
from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from jobs import core
from models.jobs import JOB_STATUSES, JOB_TYPES, TERMINAL_STATUSES
from services import jobs as job_service
from web.auth import current_principal, requires, rerun_refusal
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint("jobs", __name__, url_prefix="/jobs", description="Background jobs")

#: Seconds a poller should wait before asking again, by status.
RETRY_AFTER_S = {"pending": 2, "running": 1}


class ProgressSchema(ma.Schema):
    current = ma.fields.Integer(allow_none=True)
    total = ma.fields.Integer(allow_none=True)
    percentage = ma.fields.Integer(allow_none=True)
    message = ma.fields.String(allow_none=True)


class JobErrorSchema(ma.Schema):
    """What went wrong, for every role; the traceback stays on the server (logs, the row)."""

    error_class = ma.fields.String(data_key="class")
    error_message = ma.fields.String(data_key="message")


class JobSchema(ma.Schema):
    id = ma.fields.UUID()
    job_type = ma.fields.String()
    status = ma.fields.String()
    resource_type = ma.fields.String(allow_none=True)
    resource_id = ma.fields.UUID(allow_none=True)
    params = ma.fields.Dict()
    progress = ma.fields.Nested(ProgressSchema)
    result = ma.fields.Dict(allow_none=True)
    error = ma.fields.Method("_error", allow_none=True)
    attempt = ma.fields.Integer()
    max_attempts = ma.fields.Integer()
    attempts = ma.fields.List(
        ma.fields.Dict(),
        metadata={"description": "Each attempt's outcome (and error), oldest first"},
    )
    not_before = ma.fields.DateTime(metadata={"description": "Earliest start (a retry's backoff)"})
    queue_name = ma.fields.String()
    message_id = ma.fields.String(allow_none=True)
    rerun_of_id = ma.fields.UUID(allow_none=True)
    idempotency_key = ma.fields.String(allow_none=True)
    concurrency_key = ma.fields.String(allow_none=True)
    cancel_requested_at = ma.fields.DateTime(allow_none=True)
    heartbeat_at = ma.fields.DateTime(allow_none=True)
    triggered_by = ma.fields.String()
    triggered_by_user_id = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    enqueued_at = ma.fields.DateTime(allow_none=True)
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)
    updated_at = ma.fields.DateTime()

    def _error(self, job):
        return JobErrorSchema().dump(job) if job.error_class else None


class JobDetailSchema(JobSchema):
    reruns = ma.fields.List(ma.fields.UUID(), metadata={"description": "Jobs that rerun this one"})


class JobFilterArgs(ma.Schema):
    status = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(JOB_STATUSES)))
    job_type = ma.fields.String(validate=ma.validate.OneOf(JOB_TYPES))
    resource_type = ma.fields.String()
    resource_id = ma.fields.UUID()
    created_after = ma.fields.AwareDateTime(default_timezone=None)
    created_before = ma.fields.AwareDateTime(default_timezone=None)
    rerun_of = ma.fields.UUID()

    @ma.validates_schema
    def _resource_pair(self, data, **kwargs):
        if "resource_id" in data and "resource_type" not in data:
            raise ma.ValidationError("resource_id needs resource_type.", "resource_id")

    @ma.post_load
    def _filters(self, data, **kwargs):
        """Gather the filter fields into one JobFilters; leave paging options as they are."""
        chosen = {name: data.pop(name) for name in list(data) if name in _FILTER_FIELDS}
        statuses = tuple(chosen.pop("status", ()))
        return {**data, "filters": job_service.JobFilters(statuses=statuses, **chosen)}


_FILTER_FIELDS = set(JobFilterArgs._declared_fields)


class JobListArgs(PageArgs, JobFilterArgs):
    pass


class BulkRerunArgs(JobFilterArgs):
    dry_run = ma.fields.Boolean(load_default=False)


class BulkRerunItemSchema(ma.Schema):
    job_id = ma.fields.UUID()
    job_type = ma.fields.String()
    new_job_id = ma.fields.UUID()
    reason = ma.fields.String()


class BulkRerunSchema(ma.Schema):
    dry_run = ma.fields.Boolean()
    matched = ma.fields.Integer()
    rerun = ma.fields.List(ma.fields.Nested(BulkRerunItemSchema))
    skipped = ma.fields.List(ma.fields.Nested(BulkRerunItemSchema))


class JobStatsSchema(ma.Schema):
    by_status = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    by_job_type = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Dict())
    oldest_pending_age_seconds = ma.fields.Float(allow_none=True)


def accepted(job) -> tuple:
    """A trigger's answer: the job, 202, and where to poll it."""
    location = url_for("jobs.JobById", job_id=job.id)
    return job, 202, {"Location": location}


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    return key[:255] or None


@blp.route("")
class Jobs(MethodView):
    @requires("jobs:read")
    @blp.arguments(JobListArgs, location="query", as_kwargs=True)
    @blp.response(200, JobSchema(many=True), headers=PAGE_HEADERS)
    def get(self, filters, page, limit):
        """List jobs, newest first"""
        return paginate(
            job_service.list_query(filters),
            page=page,
            limit=limit,
            count=lambda: job_service.count(filters),
        )


@blp.route("/<uuid:job_id>")
class JobById(MethodView):
    @requires("jobs:read")
    @blp.etag
    @blp.response(200, JobDetailSchema)
    def get(self, job_id):
        """One job with its progress; poll until finished (see Retry-After)"""
        job, reruns = core.get_with_reruns(job_id)
        job.reruns = reruns
        headers = {}
        if job.status not in TERMINAL_STATUSES:
            headers["Retry-After"] = str(RETRY_AFTER_S[job.status])
        return job, headers


@blp.route("/<uuid:job_id>/cancel")
class JobCancel(MethodView):
    @requires("jobs:cancel")
    @blp.response(202, JobSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The job already finished")
    def post(self, job_id):
        """Cancel: pending jobs at once, running ones at their next checkpoint"""
        return core.cancel(job_id)


@blp.route("/<uuid:job_id>/rerun")
class JobRerun(MethodView):
    @requires("jobs:rerun")
    @blp.response(202, JobSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="Starting this kind needs more")
    @blp.alt_response(409, schema=ErrorSchema, description="Still active, or its resource busy")
    def post(self, job_id):
        """Start a new job like this finished one (needs the permission that starts its kind)"""
        principal = current_principal()
        if refused := rerun_refusal(core.get(job_id).job_type, principal):
            raise refused
        return accepted(core.rerun(job_id, user_id=principal.user_id))


@blp.route("/rerun")
class JobBulkRerun(MethodView):
    @requires("jobs:bulk_rerun")
    @blp.arguments(BulkRerunArgs, as_kwargs=True)
    @blp.response(200, BulkRerunSchema)
    def post(self, filters, dry_run):
        """Rerun every finished job matching the filters (dry_run shows which)"""
        principal = current_principal()
        return job_service.bulk_rerun(
            filters,
            dry_run=dry_run,
            user_id=principal.user_id,
            refusal=lambda job_type: rerun_refusal(job_type, principal),
        )


@blp.route("/stats")
class JobStats(MethodView):
    @requires("jobs:read")
    @blp.response(200, JobStatsSchema)
    def get(self):
        """This tenant's job counts by status and kind, and its oldest pending age"""
        return job_service.stats()


@blp.route("/healthcheck")
class JobHealthcheck(MethodView):
    @requires("jobs:healthcheck")
    @blp.response(202, JobSchema)
    def post(self):
        """Start a job that proves a worker reaches the database and the broker"""
        job = job_service.start_healthcheck(
            user_id=current_principal().user_id, idempotency_key=idempotency_key()
        )
        return accepted(job)
