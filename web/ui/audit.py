"""The audit log: who changed what and as whom, with filters and paging, and one entry's
values (written redacted: secrets appear only as *_set flags)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import render_template, request

from models.db import db
from services import audit_log, users
from web.api.audit import AuditFilterArgs
from web.auth import requires
from web.ui.base import listing, page_blueprint

bp = page_blueprint("ui_audit", __name__)

#: People offered in the actor filter at most.
ACTOR_CHOICES = 200
#: Filters of the form passed on to the API's own arguments as they are.
_PASSED = ("actor_id", "action", "resource_type", "resource_id")


def _day(value: str, *, days: int = 0) -> str:
    """A date picked in the form as the API's aware time: midnight UTC, ``days`` later."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value  # the API's schema names what is wrong with it
    return (datetime.combine(day, time(), UTC) + timedelta(days=days)).isoformat()


def _filters(args: dict) -> audit_log.AuditFilters:
    chosen = {key: args[key] for key in _PASSED if args.get(key)}
    if args.get("since"):
        chosen["created_after"] = _day(args["since"])
    if args.get("until"):
        # The whole day picked: entries before the next midnight.
        chosen["created_before"] = _day(args["until"], days=1)
    return AuditFilterArgs().load(chosen)["filters"]


@bp.get("/audit")
@requires("audit:read")
def audit_list():
    """Audit log."""
    args = {key: value for key, value in request.args.items() if value and key != "page"}
    entries = listing(audit_log.list_query(_filters(args)))
    people = db.scalars(users.list_users_query().limit(ACTOR_CHOICES)).all()
    return render_template(
        "audit.html",
        entries=entries,
        emails=audit_log.emails(entries["rows"]),
        people=people,
        args=args,
    )


@bp.get("/audit/<uuid:entry_id>")
@requires("audit:read")
def audit_entry(entry_id):
    """One audit entry."""
    entry = audit_log.get(entry_id)
    return render_template("audit_entry.html", entry=entry, emails=audit_log.emails([entry]))
