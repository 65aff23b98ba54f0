"""Environments: the list, connecting one, its page (connection test, sync, ingestion,
credential checks, drift gate) and its jobs."""

from __future__ import annotations

from flask import render_template

from models.environments import ENVIRONMENT_CLASSES
from services import environments
from services import jobs as job_service
from services.drift import gate
from web.api.environments import EnvironmentSchema
from web.auth import current_principal, requires
from web.ui.base import done, form, listing, page_blueprint

bp = page_blueprint("ui_environments", __name__)

#: Recent jobs shown on an environment's page.
RECENT_JOBS = 10


@bp.get("/environments")
@requires("environments:read")
def environment_list():
    """Environments."""
    return render_template("environments.html", environments=listing(environments.list_query()))


@bp.get("/environments/new")
@requires("environments:write")
def connect():
    """The form to connect an n8n instance."""
    return render_template("environment_new.html", classes=ENVIRONMENT_CLASSES)


@bp.post("/environments")
@requires("environments:write")
def create():
    """Connect an n8n instance (its onboarding job starts)."""
    env, _ = environments.create(user_id=current_principal().user_id, **form(EnvironmentSchema()))
    return done("Connected; its first sync is under way.", "ui_environments.detail", env_id=env.id)


@bp.get("/environments/<uuid:env_id>")
@requires("environments:read")
def detail(env_id):
    """One environment."""
    env = environments.get(env_id)
    recent = job_service.list_query(job_service.JobFilters(resource_id=env_id))
    return render_template(
        "environment.html",
        env=env,
        gate=gate.evaluate(env_id),
        jobs=listing(recent, limit=RECENT_JOBS),
    )


@bp.post("/environments/<uuid:env_id>/test")
@requires("environments:test")
def test(env_id):
    """Test the connection now."""
    check = environments.test_connection(env_id)
    message = f"Connection: {check.status}. {check.message}"
    return done(message, "ui_environments.detail", env_id=env_id)


def _started(job_type: str, env_id) -> object:
    environments.start_job(job_type, env_id, user_id=current_principal().user_id)
    return done("Started; follow it below.", "ui_environments.detail", env_id=env_id)


@bp.post("/environments/<uuid:env_id>/sync")
@requires("environments:sync")
def sync(env_id):
    """Sync workflows."""
    return _started("sync", env_id)


@bp.post("/environments/<uuid:env_id>/sync-executions")
@requires("executions:ingest")
def sync_executions(env_id):
    """Ingest executions."""
    return _started("execution_ingestion", env_id)


@bp.post("/environments/<uuid:env_id>/sync-credentials")
@requires("credentials:check")
def sync_credentials(env_id):
    """Take the credential inventory."""
    return _started("credential_sync", env_id)


@bp.post("/environments/<uuid:env_id>/check-credentials")
@requires("credentials:check")
def check_credentials(env_id):
    """Check credential health."""
    return _started("credential_health", env_id)
