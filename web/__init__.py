"""The web process: create_app() builds the Flask app serving the REST API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import redis
import sqlalchemy.exc
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Flask, request

from jobs import load_actors
from jobs.broker import setup_broker
from models.db import check_app_role, db, init_engine, reset_context
from services import logs
from services.config import Settings, configure
from services.git import announce_storage
from services.secrets import configuration_problem
from web import (
    api,
    cli,
    health,
    index,
    observability,
    request_context,
    request_guard,
    security_headers,
    ui,
)
from web.errors import ApiWithErrors, register_error_handlers
from web.throttle import AuthThrottle

ALEMBIC_INI = str(Path(__file__).resolve().parent.parent / "alembic.ini")


def schema_name(schema) -> str:
    """OpenAPI component names: the class name without "Schema"; partial (PATCH) variants
    get their own name instead of a numbered duplicate."""
    cls = resolve_schema_cls(schema)
    name = cls.__name__.removesuffix("Schema")
    return f"{name}Patch" if getattr(schema, "partial", False) else name


#: Methods that change nothing by contract: their transaction may simply commit.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _end_transaction(error: BaseException | None) -> None:
    """Commit a safe request's transaction instead of rolling it back: a rollback would drop
    psycopg's prepared statements (and send DEALLOCATE ALL), and lose the token's last-use
    stamp the authentication function wrote. Anything else is rolled back by reset_context,
    unless its service committed. A safe request has nothing it must keep: when its
    connection was lost meanwhile (the answer was a 503), the commit is given up."""
    if error is None and request.method in SAFE_METHODS and db.registry.has():
        try:
            db.commit()
        except sqlalchemy.exc.SQLAlchemyError as lost:
            logging.getLogger(__name__).warning("a safe request's commit failed: %s", lost)


class App(Flask):
    """Flask, deciding once per function whether it is a coroutine: Flask asks again for
    every hook (about 15) of every request."""

    #: Functions remembered at most (views and hooks are a few hundred; a method of a view
    #: instance made per request is remembered by its function).
    SYNC_CACHE_SIZE = 4096

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._is_sync: dict[Callable, bool] = {}

    def ensure_sync(self, func: Callable) -> Callable:
        plain = getattr(func, "__func__", func)
        is_sync = self._is_sync.get(plain)
        if is_sync is None:
            if len(self._is_sync) >= self.SYNC_CACHE_SIZE:
                self._is_sync.clear()
            is_sync = self._is_sync[plain] = super().ensure_sync(func) is func
        return func if is_sync else super().ensure_sync(func)


def create_app(config: Settings | None = None) -> Flask:
    """Build the app from ``config`` (default: the environment)."""
    settings = config or Settings.from_env()
    configure(settings)
    if not settings.testing:  # tests keep pytest's log capture
        logs.configure(settings.log_level, process="web", fmt=settings.log_format)
    if problem := configuration_problem(settings.encryption_keys):
        # Served, but not ready (/readyz), so a deploy never routes traffic to it.
        logging.getLogger(__name__).error(problem)
    announce_storage(settings)
    app = App(__name__)
    # The request id first: every later hook's refusal carries it; then the size limits,
    # then the checks of what was sent. The id converter before any route is added.
    request_context.init_app(app)
    observability.init_app(app)
    request_guard.init_app(app)
    app.config.update(
        SETTINGS=settings,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        ALEMBIC_INI=ALEMBIC_INI,
        API_TITLE="n8n-ops",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=index.SWAGGER_UI_URL,
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": (
                            "A personal API token (n8o_pat_...) or a Supabase JWT. A JWT"
                            " whose subject belongs to several tenants names the tenant of"
                            " each request in the X-Tenant-ID header (its id)."
                        ),
                    }
                }
            },
            "security": [{"bearerAuth": []}],
        },
    )
    engine = init_engine(settings.database_url)
    check_app_role(engine)
    setup_broker(settings)
    load_actors()
    app.extensions["n8nops_redis"] = redis.Redis.from_url(settings.redis_url)
    app.extensions["n8nops_auth_throttle"] = AuthThrottle(settings)

    rest = ApiWithErrors(
        app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name)}
    )
    app.extensions["n8nops_api"] = rest
    request_guard.register_converter(rest)
    api.register(rest)
    app.register_blueprint(health.bp)
    app.register_blueprint(index.bp)
    ui.register(app)
    security_headers.init_app(app)
    register_error_handlers(app)
    cli.register(app)
    app.teardown_request(_end_transaction)
    app.teardown_appcontext(lambda _exc: reset_context())
    return app
