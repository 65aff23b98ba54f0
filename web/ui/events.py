"""Events: what happened in the tenant, newest first, filtered by area; live at the top."""

from __future__ import annotations

from flask import render_template, request

from services import events
from web.api.events import EventListArgs
from web.auth import requires
from web.ui.base import listing, page_blueprint

bp = page_blueprint("ui_events", __name__)


@bp.get("/events")
@requires("events:read")
def event_list():
    """Events."""
    args = {k: v for k, v in request.args.items() if v and k in ("event_prefix", "event_type")}
    filters = EventListArgs().load(args)["filters"]
    return render_template("events.html", events=listing(events.list_query(filters)), args=args)
