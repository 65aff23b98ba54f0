"""Per-request telemetry: Prometheus metrics by route and status, the log context, what
gunicorn's JSON access log reads from the WSGI environ, and header size limits answered in
the API's error shape (gunicorn.conf.py sets larger hard limits behind these)."""

from __future__ import annotations

import time

from flask import Flask, g, request
from werkzeug.exceptions import RequestHeaderFieldsTooLarge, RequestURITooLarge

from models.db import current_tenant
from services import logs, metrics
from web.request_context import request_id

#: Bytes of path and query string; longer is a 414.
MAX_URL_BYTES = 4096
#: Bytes of one header field (name and value); more is a 431.
MAX_FIELD_BYTES = 8 * 1024
#: Bytes of all header names and values together; more is a 431.
MAX_HEADER_BYTES = 16 * 1024
#: Header fields; more is a 431.
MAX_HEADER_FIELDS = 64
#: The route label of requests that matched no route (so 404 scans make one series).
UNMATCHED = "<unmatched>"


def init_app(app: Flask) -> None:
    logs.use_request_id(request_id)
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    g.started_at = time.perf_counter()
    # Read from the WSGI environ directly: werkzeug's header view rebuilds every name.
    environ = request.environ
    url_bytes = len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", ""))
    if url_bytes > MAX_URL_BYTES:
        raise RequestURITooLarge(f"The URL is {url_bytes} bytes; at most {MAX_URL_BYTES}.")
    sizes = [
        len(key) - 5 + len(value)
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    ]
    if len(sizes) > MAX_HEADER_FIELDS:
        raise RequestHeaderFieldsTooLarge(
            f"The request has {len(sizes)} header fields; at most {MAX_HEADER_FIELDS}."
        )
    if max(sizes, default=0) > MAX_FIELD_BYTES:
        raise RequestHeaderFieldsTooLarge(
            f"A header field is {max(sizes)} bytes; at most {MAX_FIELD_BYTES}."
        )
    size = sum(sizes)
    if size > MAX_HEADER_BYTES:
        raise RequestHeaderFieldsTooLarge(
            f"The request's headers are {size} bytes; at most {MAX_HEADER_BYTES}."
        )


#: Histogram children by (method, route, status): labels() costs more than observe().
_series: dict[tuple[str, str, str], object] = {}


def _finish(response):
    route = request.url_rule.rule if request.url_rule else UNMATCHED
    started = g.get("started_at")
    if started is not None:
        elapsed = time.perf_counter() - started
        labels = (request.method, route, str(response.status_code))
        series = _series.get(labels)
        if series is None:
            series = _series[labels] = metrics.get().http_requests.labels(*labels)
        series.observe(elapsed)
    environ = request.environ
    environ["n8nops.route"] = route
    tenant = current_tenant()
    if tenant is not None:
        environ["n8nops.tenant_id"] = str(tenant)
    rid = request_id()
    if rid:
        environ["n8nops.request_id"] = rid
    return response
