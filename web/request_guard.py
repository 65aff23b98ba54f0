"""What every request must be before a view sees it, checked once for all endpoints: text
PostgreSQL can store, JSON bodies that say and are JSON, only the query parameters the
operation declares, and path ids that are ids (else the 404 of a missing object)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Flask, current_app, request
from flask_smorest import abort
from flask_smorest.spec.plugins import FlaskPlugin
from werkzeug.exceptions import BadRequest, UnsupportedMediaType
from werkzeug.routing import UUIDConverter

#: Methods whose body, when they have one, is a JSON document.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: A NUL (PostgreSQL text cannot hold it) or a lone UTF-16 surrogate (not encodable as UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Contains a NUL character or a lone surrogate, which cannot be stored."

#: The id a malformed path id stands for: no row has it, so the lookup answers the same 404
#: (same body) as for an id that does not exist.
NO_SUCH_ID = uuid.UUID(int=0)


class AnyIdConverter(UUIDConverter):
    """``<uuid:...>`` path segments: a UUID, or anything else as NO_SUCH_ID."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            return NO_SUCH_ID


def init_app(app: Flask) -> None:
    """Install the id converter (before any route is added) and the request checks."""
    app.url_map.converters["uuid"] = AnyIdConverter
    app.before_request(_check_request)


def register_converter(api) -> None:
    """Document AnyIdConverter's parameters as werkzeug's UUIDs are."""
    api.register_converter(AnyIdConverter, lambda _converter: {"type": "string", "format": "uuid"})


def _check_request() -> None:
    errors: dict[str, dict[str, list[str]]] = {}
    _unstorable(errors, "headers", request.headers.items())
    _unstorable(errors, "query", request.args.items(multi=True))
    _unstorable(errors, "path", (request.view_args or {}).items())
    if request.blueprint and request.blueprint.startswith("ui_"):
        # The dashboard's pages post HTML forms (web/ui), not JSON.
        _unstorable(errors, "form", request.form.items(multi=True))
    elif request.method in BODY_METHODS and _has_body():
        _unstorable(errors, "json", _strings(_json_body()))
    if unknown := _unknown_query_parameters():
        errors.setdefault("query", {}).update(
            {name: ["Unknown parameter."] for name in sorted(unknown)}
        )
    if errors:
        abort(422, errors=errors)


def _unstorable(errors: dict, location: str, items) -> None:
    for name, value in items:
        if isinstance(value, str) and (UNSTORABLE.search(value) or UNSTORABLE.search(name)):
            errors.setdefault(location, {})[UNSTORABLE.sub("?", name)] = [UNSTORABLE_MESSAGE]


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")


def _json_body() -> Any:
    if not request.is_json:
        sent = f"as {request.mimetype}" if request.mimetype else "without a Content-Type"
        raise UnsupportedMediaType(
            "The body must be JSON sent with 'Content-Type: application/json'; "
            f"this one came {sent}."
        )
    try:
        return request.get_json()  # cached: the view's argument parser reuses it
    except BadRequest as error:
        raise BadRequest(
            "The body is not valid JSON (UTF-8); check quoting, commas and brackets."
        ) from error


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) of every key and string in a JSON document."""
    if isinstance(value, str):
        yield path or "<body>", value
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, key
            yield from _strings(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def _unknown_query_parameters() -> set[str]:
    if request.url_rule is None or not request.args:
        return set()
    method = "GET" if request.method == "HEAD" else request.method
    declared = _declared_query_parameters().get((request.url_rule.rule, method))
    if declared is None:  # not an API operation (docs, health): nothing declared to hold to
        return set()
    return set(request.args) - declared


def _declared_query_parameters() -> dict[tuple[str, str], frozenset[str]]:
    """(Flask rule, method) -> the query parameters its OpenAPI operation declares."""
    cached = current_app.extensions.get("n8nops_query_parameters")
    if cached is not None:
        return cached
    paths = current_app.extensions["n8nops_api"].spec.to_dict()["paths"]
    declared = {}
    for rule in current_app.url_map.iter_rules():
        operations = paths.get(FlaskPlugin.flaskpath2openapi(rule.rule))
        if operations is None:
            continue
        shared = operations.get("parameters", [])
        for method, operation in operations.items():
            if method == "parameters":
                continue
            parameters = shared + operation.get("parameters", [])
            declared[(rule.rule, method.upper())] = frozenset(
                p["name"] for p in parameters if p.get("in") == "query"
            )
    current_app.extensions["n8nops_query_parameters"] = declared
    return declared
