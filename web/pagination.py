"""page/limit pagination for list endpoints: the total goes into headers, items into the body.

A page reads one row past its end to know whether a next page exists, and counts matches
only up to COUNT_CAP: on a large table an exact count reads every matching row on every page,
which is what made listing jobs grow with the table.
"""

from __future__ import annotations

from urllib.parse import urlencode

import marshmallow as ma
from flask import request
from sqlalchemy import Select, func, literal, select

from models.db import db

#: Largest page a client may ask for.
MAX_LIMIT = 200
#: Matches counted at most (rows); X-Total-Count-Capped says when there are more.
COUNT_CAP = 10_000

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
        "description": "RFC 8288 links to the next and previous pages",
        "schema": {"type": "string"},
    },
}


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_LIMIT))


def paginate(statement: Select, *, page: int, limit: int) -> tuple[list, dict[str, str]]:
    """Run one page of ``statement`` and its capped count; return (items, headers)."""
    items = list(db.scalars(statement.limit(limit + 1).offset((page - 1) * limit)))
    has_next = len(items) > limit
    del items[limit:]
    if page == 1 and not has_next:
        total = len(items)  # the whole result is on this page: nothing to count
    else:
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
        links.append(f'<{_url(page + 1, limit)}>; rel="next"')
    if page > 1:
        links.append(f'<{_url(page - 1, limit)}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    return items, headers


def _url(page: int, limit: int) -> str:
    args = request.args.to_dict(flat=False)
    args.update(page=[str(page)], limit=[str(limit)])
    return f"{request.base_url}?{urlencode(args, doseq=True)}"
