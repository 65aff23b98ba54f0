"""Notification events: what happened in the tenant, newest first."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import events
from web.auth import requires
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "events", __name__, url_prefix="/events", description="What happened, for notifications"
)


class EventSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    event_type = ma.fields.String(dump_only=True)
    resource_type = ma.fields.String(dump_only=True, allow_none=True)
    resource_id = ma.fields.String(dump_only=True, allow_none=True)
    payload = ma.fields.Dict(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    delivered_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class EventListArgs(PageArgs):
    event_type = ma.fields.String(validate=ma.validate.Regexp(events.EVENT_TYPE))
    event_prefix = ma.fields.String(
        validate=ma.validate.Length(min=1, max=100),
        metadata={"description": 'A whole area, e.g. "drift."'},
    )
    resource_type = ma.fields.String(validate=ma.validate.Length(min=1, max=50))
    resource_id = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    created_after = ma.fields.AwareDateTime(default_timezone=None)

    @ma.post_load
    def _filters(self, data, **kwargs):
        page, limit = data.pop("page"), data.pop("limit")
        return {"page": page, "limit": limit, "filters": events.EventFilters(**data)}


@blp.route("")
class Events(MethodView):
    @requires("events:read")
    @blp.arguments(EventListArgs, location="query", as_kwargs=True)
    @blp.response(200, EventSchema(many=True), headers=PAGE_HEADERS)
    def get(self, filters, page, limit):
        """List events, newest first"""
        return paginate(events.list_query(filters), page=page, limit=limit)


@blp.route("/<uuid:event_id>")
class EventById(MethodView):
    @requires("events:read")
    @blp.response(200, EventSchema)
    def get(self, event_id):
        """One event"""
        return events.get(event_id)
