"""Executions ingested from n8n: a keyset-paged listing, one execution, and analytics."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.executions import NORMALIZED_STATUSES
from services import executions
from web.auth import requires
from web.pagination import MAX_LIMIT, link_url

blp = Blueprint(
    "executions", __name__, url_prefix="/executions", description="Executions ingested from n8n"
)

#: Longest analytics window, in hours (the retention window is shorter on every plan today).
MAX_WINDOW_HOURS = 24 * 90

CURSOR_HEADERS = {
    "X-Next-Cursor": {
        "description": "Pass as `cursor` for the next page; absent on the last page",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'RFC 8288 link to the next page (rel="next"); absent on the last page',
        "schema": {"type": "string"},
    },
}


class ExecutionSchema(ma.Schema):
    id = ma.fields.UUID()
    environment_id = ma.fields.UUID()
    n8n_execution_id = ma.fields.String()
    workflow_id = ma.fields.String(metadata={"description": "n8n's workflow id (per instance)"})
    workflow_name = ma.fields.String(allow_none=True)
    status = ma.fields.String(allow_none=True, metadata={"description": "n8n's status as sent"})
    normalized_status = ma.fields.String(
        metadata={"description": "success, error (incl. crashed, canceled), running, waiting"}
    )
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)
    execution_time = ma.fields.Integer(
        allow_none=True, metadata={"description": "Milliseconds; null while unfinished"}
    )
    error_message = ma.fields.String(allow_none=True)
    error_node = ma.fields.String(allow_none=True)
    mode = ma.fields.String(allow_none=True)
    retry_of = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ExecutionListArgs(ma.Schema):
    environment_id = ma.fields.UUID()
    workflow_id = ma.fields.String()
    status = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(NORMALIZED_STATUSES)),
        metadata={"description": "Normalized statuses; repeat for several"},
    )
    mode = ma.fields.String()
    started_after = ma.fields.AwareDateTime(default_timezone=None)
    started_before = ma.fields.AwareDateTime(default_timezone=None)
    cursor = ma.fields.String(
        load_default=None, metadata={"description": "X-Next-Cursor of the previous page"}
    )
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_LIMIT))

    @ma.post_load
    def _filters(self, data, **kwargs):
        """Gather the filter fields into one ExecutionFilters; keep cursor and limit."""
        statuses = tuple(data.pop("status", ()))
        chosen = {name: data.pop(name) for name in list(data) if name not in ("cursor", "limit")}
        return {**data, "filters": executions.ExecutionFilters(statuses=statuses, **chosen)}


class AnalyticsArgs(ma.Schema):
    environment_id = ma.fields.UUID(required=True)
    window_hours = ma.fields.Integer(
        load_default=24,
        validate=ma.validate.Range(min=1, max=MAX_WINDOW_HOURS),
        metadata={
            "description": "The last hours; over more than one, p50/p95 come from hourly and "
            "daily duration histograms (within 9 %), counts stay exact"
        },
    )


class EnvironmentAnalyticsArgs(AnalyticsArgs):
    workflow_id = ma.fields.String(metadata={"description": "Narrow to one n8n workflow id"})


class CountsSchema(ma.Schema):
    total = ma.fields.Integer()
    success = ma.fields.Integer()
    error = ma.fields.Integer()
    running = ma.fields.Integer()
    waiting = ma.fields.Integer()


class DurationSchema(ma.Schema):
    p50 = ma.fields.Float(allow_none=True)
    p95 = ma.fields.Float(allow_none=True)


class LastFailureSchema(ma.Schema):
    id = ma.fields.UUID()
    n8n_execution_id = ma.fields.String()
    started_at = ma.fields.DateTime(allow_none=True)
    error_message = ma.fields.String(allow_none=True)
    error_node = ma.fields.String(allow_none=True)


class FiguresSchema(ma.Schema):
    counts = ma.fields.Nested(CountsSchema)
    error_rate = ma.fields.Float(
        allow_none=True,
        metadata={"description": "error / (success + error): unfinished ones are not counted"},
    )
    duration_ms = ma.fields.Nested(
        DurationSchema, metadata={"description": "Percentiles of finished executions, in ms"}
    )
    last_failure = ma.fields.Nested(LastFailureSchema, allow_none=True)


class AnalyticsSchema(FiguresSchema):
    environment_id = ma.fields.UUID()
    workflow_id = ma.fields.String(allow_none=True)
    window_hours = ma.fields.Integer()
    since = ma.fields.DateTime()


class WorkflowAnalyticsSchema(FiguresSchema):
    workflow_id = ma.fields.String()
    workflow_name = ma.fields.String(allow_none=True)


def next_page_headers(next_cursor: str | None) -> dict[str, str]:
    """X-Next-Cursor and a rel="next" Link to this URL with that cursor (none on the last page)."""
    if next_cursor is None:
        return {}
    url = link_url(cursor=next_cursor)
    return {"X-Next-Cursor": next_cursor, "Link": f'<{url}>; rel="next"'}


@blp.route("")
class Executions(MethodView):
    @requires("executions:read")
    @blp.arguments(ExecutionListArgs, location="query", as_kwargs=True)
    @blp.response(200, ExecutionSchema(many=True), headers=CURSOR_HEADERS)
    def get(self, filters, cursor, limit):
        """List executions, newest first; page on with the X-Next-Cursor header"""
        items, next_cursor = executions.list_page(filters, cursor=cursor, limit=limit)
        return items, next_page_headers(next_cursor)


@blp.route("/<uuid:execution_id>")
class ExecutionById(MethodView):
    @requires("executions:read")
    @blp.response(200, ExecutionSchema)
    def get(self, execution_id):
        """One execution"""
        return executions.get(execution_id)


@blp.route("/analytics")
class ExecutionAnalytics(MethodView):
    @requires("executions:read")
    @blp.arguments(EnvironmentAnalyticsArgs, location="query", as_kwargs=True)
    @blp.response(200, AnalyticsSchema)
    def get(self, environment_id, window_hours, workflow_id=None):
        """Counts, error rate, p50/p95 duration and last failure of an environment or workflow"""
        return executions.analytics(
            environment_id, window_hours=window_hours, workflow_id=workflow_id
        )


@blp.route("/analytics/workflows")
class ExecutionWorkflowAnalytics(MethodView):
    @requires("executions:read")
    @blp.arguments(AnalyticsArgs, location="query", as_kwargs=True)
    @blp.response(200, WorkflowAnalyticsSchema(many=True))
    def get(self, environment_id, window_hours):
        """The same figures per workflow of an environment, most failures first"""
        return executions.workflow_analytics(environment_id, window_hours=window_hours)
