"""page/limit pagination for list endpoints: the total goes into headers, items into the body.

A page reads one row past its end to know whether a next page exists, and counts matches
only up to COUNT_CAP: on a large table an exact count reads every matching row on every page,
which is what made listing jobs grow with the table.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import marshmallow as ma
from flask import current_app, request
from sqlalchemy import Select, func, literal, select

from models.db import db

#: Largest page a client may ask for.
MAX_LIMIT = 200
#: Matches counted at most (rows); X-Total-Count-Capped says when there are more.
COUNT_CAP = 10_000
#: Items a client may page past (page * limit): deep enough for any listing a person reads,
#: and far from what overflows the SQL offset.
MAX_OFFSET = 1_000_000

PAGE_HEADERS = {
    "X-Total-Count": {
        "description": f"Items matching the query, counted up to {COUNT_CAP:,}",
        "schema": {"type": "integer"},
    },
    "X-Total-Count-Capped": {
        "description": "Present (true) when more items match than X-Total-Count says",
        "schema": {"type": "boolean"},
    },
    "Link": {
        "description": "RFC 8288 links to the next and previous pages: relative, or absolute "
        "from the configured PUBLIC_URL",
        "schema": {"type": "string"},
    },
}


class PageArgs(ma.Schema):
    page = ma.fields.Integer(
        load_default=1, validate=ma.validate.Range(min=1, max=MAX_OFFSET // MAX_LIMIT)
    )
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_LIMIT))

    @ma.validates_schema
    def _within_reach(self, data, **_kwargs):
        if data.get("page", 1) * data.get("limit", 1) > MAX_OFFSET:
            raise ma.ValidationError(
                f"page * limit may be at most {MAX_OFFSET}; narrow the query instead.", "page"
            )


def paginate(
    statement: Select, *, page: int, limit: int, count: Callable[[], int | None] = lambda: None
) -> tuple[list, dict[str, str]]:
    """Run one page of ``statement`` and its capped count; return (items, headers).

    ``count`` may know the exact total without reading the matches (a maintained summary);
    None from it means count them."""
    items = list(db.scalars(statement.limit(limit + 1).offset((page - 1) * limit)))
    has_next = len(items) > limit
    del items[limit:]
    if page == 1 and not has_next:
        total = len(items)  # the whole result is on this page: nothing to count
    elif (total := count()) is None:
        capped = (
            statement.with_only_columns(literal(1), maintain_column_froms=True)
            .order_by(None)
            .limit(COUNT_CAP + 1)
        )
        total = db.scalar(select(func.count()).select_from(capped.subquery()))
    headers = {"X-Total-Count": str(min(total, COUNT_CAP))}
    if total > COUNT_CAP:
        headers["X-Total-Count-Capped"] = "true"
    links = []
    if has_next:
        links.append(f'<{link_url(page=page + 1, limit=limit)}>; rel="next"')
    if page > 1:
        links.append(f'<{link_url(page=page - 1, limit=limit)}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    return items, headers


def link_url(**changes: object) -> str:
    """This request's URL with ``changes`` to its query: relative, or under PUBLIC_URL (never
    from the Host header, which a client or a misconfigured proxy chooses)."""
    args = request.args.to_dict(flat=False)
    args.update({name: [str(value)] for name, value in changes.items()})
    public = current_app.config["SETTINGS"].public_url.rstrip("/")
    return f"{public}{request.path}?{urlencode(args, doseq=True)}"
