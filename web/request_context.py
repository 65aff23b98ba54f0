"""The current request's id: the client's X-Request-ID when well-formed, else a new one; it is
echoed on every response, written on every log line and in the body of a 500."""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, has_request_context, request

HEADER = "X-Request-ID"
#: What a client's id may look like (a UUID, a trace id, a short token): no spaces, no
#: control characters, so it can go into logs and headers as it is.
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")


def init_app(app: Flask) -> None:
    # create_app calls this before any other hook is registered, so whatever a later hook
    # refuses carries the id too.
    app.before_request(_assign)
    app.after_request(_echo)


def request_id() -> str | None:
    """The id of the request this thread serves, or None outside a request (or without one)."""
    if not has_request_context():
        return None
    return g.get("request_id")


def _assign() -> None:
    offered = request.headers.get(HEADER, "")
    g.request_id = offered if WELL_FORMED.fullmatch(offered) else uuid.uuid4().hex


def _echo(response):
    rid = request_id()
    if rid:
        response.headers[HEADER] = rid
    return response
