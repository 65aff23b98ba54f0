"""The current request's id, for logs: whatever set ``g.request_id`` for this request."""

from __future__ import annotations

from flask import g, has_request_context


def request_id() -> str | None:
    """The id of the request this thread serves, or None outside a request (or without one)."""
    if not has_request_context():
        return None
    return g.get("request_id")
