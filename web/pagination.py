"""page/limit pagination for list endpoints: the total goes into headers, items into the body."""

from __future__ import annotations

from urllib.parse import urlencode

import marshmallow as ma
from flask import request
from sqlalchemy import Select, func, select

from models.db import db

#: Largest page a client may ask for.
MAX_LIMIT = 200

PAGE_HEADERS = {
    "X-Total-Count": {"description": "Items matching the query", "schema": {"type": "integer"}},
    "Link": {
        "description": "RFC 8288 links to the next and previous pages",
        "schema": {"type": "string"},
    },
}


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=MAX_LIMIT))


def paginate(statement: Select, *, page: int, limit: int) -> tuple[list, dict[str, str]]:
    """Run one page of ``statement`` and its total count; return (items, headers)."""
    total = db.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    items = list(db.scalars(statement.limit(limit).offset((page - 1) * limit)))
    links = []
    if page * limit < total:
        links.append(f'<{_url(page + 1, limit)}>; rel="next"')
    if page > 1:
        links.append(f'<{_url(page - 1, limit)}>; rel="prev"')
    headers = {"X-Total-Count": str(total)}
    if links:
        headers["Link"] = ", ".join(links)
    return items, headers


def _url(page: int, limit: int) -> str:
    args = request.args.to_dict(flat=False)
    args.update(page=[str(page)], limit=[str(limit)])
    return f"{request.base_url}?{urlencode(args, doseq=True)}"
