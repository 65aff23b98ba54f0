"""Liveness and readiness probes: outside the API, no authentication."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from models.db import db
from services.secrets import configuration_problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database and Redis answer, the schema is at the newest migration, and the
    encryption keys are usable."""
    checks = {
        "database": _check_database,
        "redis": _check_redis,
        "encryption_keys": _check_encryption_keys,
    }
    results = {}
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            results[name] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in results.values())
    return jsonify(status="ready" if ready else "not_ready", checks=results), 200 if ready else 503


def _check_database() -> str:
    revision = db.scalar(text("SELECT version_num FROM alembic_version"))
    head = _head_revision()
    return "ok" if revision == head else f"migrations at {revision}, head is {head}"


def _check_encryption_keys() -> str:
    problem = configuration_problem(current_app.config["SETTINGS"].encryption_keys)
    return f"error: {problem}" if problem else "ok"


def _check_redis() -> str:
    current_app.extensions["n8nops_redis"].ping()
    return "ok"


def _head_revision() -> str:
    head = current_app.extensions.get("n8nops_migration_head")
    if head is None:
        script = ScriptDirectory.from_config(Config(current_app.config["ALEMBIC_INI"]))
        head = current_app.extensions["n8nops_migration_head"] = script.get_current_head()
    return head
