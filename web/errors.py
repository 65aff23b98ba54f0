"""One JSON error shape for every error the API returns, Flask's own included."""

from __future__ import annotations

import logging
from http import HTTPStatus

import marshmallow as ma
import redis
import sqlalchemy.exc
from flask import Flask, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

from models.db import db
from services.errors import DomainError
from web.request_context import request_id

log = logging.getLogger(__name__)

#: Seconds a client is asked to wait when the database cannot be reached.
DATABASE_RETRY_AFTER_S = 2


class ErrorSchema(ma.Schema):
    """Every error: HTTP code and name, a stable slug, a sentence, and details to act on."""

    code = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = ma.fields.String(required=True, metadata={"description": "HTTP status name"})
    error = ma.fields.String(required=True, metadata={"description": "Machine-readable slug"})
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(metadata={"description": "Field errors, ids of conflicting objects"})
    request_id = ma.fields.String(
        metadata={"description": "On server errors: the X-Request-ID to quote when reporting it"}
    )


def _slug(name: str) -> str:
    return name.lower().replace(" ", "_").replace("-", "_")


def error_response(
    code: int, *, error: str, message: str, details: dict | None = None, headers=None
):
    """The one error body, as a response."""
    body = {"code": code, "status": _http_name(code), "error": error, "message": message}
    if details:
        body["details"] = details
    if code >= 500 and (rid := request_id()):
        body["request_id"] = rid
    response = jsonify(body)
    response.status_code = code
    if headers:
        response.headers.update(headers)
    return response


def _http_name(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


class ApiWithErrors(Api):
    """flask-smorest's Api, answering every HTTPException in the shared error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        details = {}
        if "messages" in data or "errors" in data:
            details["fields"] = data.get("errors") or data.get("messages")
        message = data.get("message") or error.description or error.name
        if error.code == 422 and details:
            message = "The request is invalid; see details.fields."
        return error_response(
            error.code or 500,
            error=_slug(error.name),
            message=message,
            details=details,
            headers=data.get("headers"),
        )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return error_response(
            error.status,
            error=error.code,
            message=error.message,
            details=error.details,
            headers=getattr(error, "headers", None),
        )

    @app.errorhandler(sqlalchemy.exc.OperationalError)
    @app.errorhandler(sqlalchemy.exc.InterfaceError)
    def _database_unavailable(error: sqlalchemy.exc.DBAPIError):
        # Without a pre-ping, a connection the server dropped fails its first statement: the
        # pool is invalidated with it and the client's retry gets a new connection. The unit
        # of work is over (nothing is left to commit at teardown).
        db.remove()
        log.warning(
            "database unavailable: %s (connection invalidated: %s)",
            type(error.orig).__name__,
            error.connection_invalidated,
        )
        return error_response(
            503,
            error="database_unavailable",
            message="The database cannot be reached right now; try again shortly.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    @app.errorhandler(redis.RedisError)
    def _broker_unavailable(error: redis.RedisError):
        log.warning("Redis is unavailable: %s", error)
        return error_response(
            503,
            error="unavailable",
            message="The job broker (Redis) cannot be reached; try again shortly.",
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return app.extensions["n8nops_api"].handle_http_exception(error)
        log.exception("unhandled error")
        return app.extensions["n8nops_api"].handle_http_exception(InternalServerError())
