"""Live updates as Server-Sent Events: the tenant's changes, or one job's (services/live.py).

Each message is ``id: <number>``, ``event: job`` or ``event: event``, and JSON data (a job's
status, attempt and progress; an event's type and resource). After a reconnect, send the last
id seen as the Last-Event-ID header (browsers' EventSource does): what was missed is replayed
first. Without it, the job stream starts with the job's current state.
"""

from __future__ import annotations

import uuid

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from jobs import core
from models.db import current_tenant, db, reset_context
from services import live
from web.auth import requires

blp = Blueprint("live", __name__, url_prefix="", description="Live updates (Server-Sent Events)")

SSE_DOC = {
    "responses": {
        "200": {
            "description": "An event stream (text/event-stream) that stays open",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
    "parameters": [
        {
            "in": "header",
            "name": "Last-Event-ID",
            "schema": {"type": "integer"},
            "description": "The last id received: replay what came after it",
        }
    ],
}


def last_event_id() -> int | None:
    """The Last-Event-ID header (or ``last_event_id`` query argument), when it is a number."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def event_stream(job_id: uuid.UUID | None = None) -> Response:
    """Subscribe, read what the client missed (or the job's state), then stream; the request's
    database session is released before streaming starts."""
    subscriber = live.Subscriber(tenant_id=current_tenant(), job_id=job_id)
    live.hub().subscribe(subscriber)
    try:
        after = last_event_id()
        if after is not None:
            first = live.missed(after, job_id=job_id)
        elif job_id is not None:
            first = [live.job_change(core.get(job_id))]
        else:
            first = []
    except BaseException:
        live.hub().unsubscribe(subscriber)
        raise
    db.commit()
    reset_context()
    return Response(
        live.Stream(subscriber, first),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@blp.route("/events/stream")
class TenantStream(MethodView):
    @requires("events:read")
    @blp.doc(**SSE_DOC)
    def get(self):
        """Stream the tenant's job changes and events"""
        return event_stream()


@blp.route("/jobs/<uuid:job_id>/stream")
class JobStream(MethodView):
    @requires("jobs:read")
    @blp.doc(**SSE_DOC)
    def get(self, job_id):
        """Stream one job's changes"""
        core.get(job_id)  # 404 before the stream opens
        return event_stream(job_id)
