"""The operator dashboard under /ui: server-rendered pages (Jinja), enhanced by htmx and one
small script for live updates, all served by the app itself. One blueprint per area; each
handler calls the same service as the API's and is guarded by the same permission."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import Blueprint, Flask, redirect, request, url_for
from flask_session.redis import RedisSessionInterface

from web.api import PREFIX as API_PREFIX
from web.ui import (
    audit,
    base,
    canonical,
    credential_mappings,
    deployments,
    drift,
    drift_policies,
    environment_tabs,
    environments,
    events,
    invitations,
    jobs,
    overview,
    pipelines,
    policies,
    promotions,
    settings,
    signin,
    tenant_switch,
)

#: Seconds browsers keep the static assets (their names change with their versions).
ASSET_MAX_AGE_S = 24 * 3600

assets = Blueprint(
    "ui_assets",
    __name__,
    static_folder="static",
    static_url_path="/ui/static",
)

BLUEPRINTS = (
    assets,
    signin.bp,
    overview.bp,
    jobs.bp,
    environments.bp,
    environment_tabs.bp,
    events.bp,
    settings.bp,
    policies.bp,
    pipelines.bp,
    promotions.bp,
    deployments.bp,
    credential_mappings.bp,
    tenant_switch.bp,
    invitations.bp,
    invitations.join_bp,
    audit.bp,
    canonical.bp,
    drift.bp,
    drift_policies.bp,
)


class SessionInterface(RedisSessionInterface):
    """Server-side sessions in Redis (the cookie holds only a random id), whose cookie is
    Secure whenever the request came over TLS, or always with SESSION_COOKIE_SECURE."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure

    def open_session(self, app: Flask, request):
        # The API authenticates each request by its bearer credential and never reads the
        # dashboard's session: its requests get none (no random id made, nothing saved).
        if request.path.startswith(API_PREFIX):
            return self.null_session_class()
        return super().open_session(app, request)


def _same_origin_referrer(response):
    # The API says no-referrer (web/security_headers.py); the dashboard's pages send their
    # address to the same site only: the CSRF check over TLS compares it, and a refused form
    # returns to the page it came from.
    if request.blueprint and request.blueprint.startswith("ui_"):
        response.headers["Referrer-Policy"] = "same-origin"
    return response


def secret_key(config) -> str:
    """The configured secret key, else one derived from the first encryption key (so every
    worker of a deployment agrees without another setting)."""
    if config.secret_key:
        return config.secret_key
    seed = config.encryption_keys[0] if config.encryption_keys else ""
    return hashlib.sha256(f"n8n-ops dashboard sessions:{seed}".encode()).hexdigest()


def register(app: Flask) -> None:
    config = app.config["SETTINGS"]
    app.config.update(
        SECRET_KEY=secret_key(config),
        SEND_FILE_MAX_AGE_DEFAULT=ASSET_MAX_AGE_S,
        SESSION_COOKIE_NAME="n8nops_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.session_hours),
        # Checked by the dashboard's blueprints only: API clients send bearer tokens, not
        # cookies, so a forged cross-site request carries no credential there.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = SessionInterface(
        app,
        client=app.extensions["n8nops_redis"],
        key_prefix=f"{config.dramatiq_namespace}:ui-session:",
    )
    base.csrf.init_app(app)
    app.jinja_env.globals.update(can=base.can)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    # Registered before security_headers.init_app, so it runs after it (Flask runs them in
    # reverse) and has the last word on the dashboard's pages.
    app.after_request(_same_origin_referrer)
    app.add_url_rule("/ui", "ui", lambda: redirect(url_for("ui_overview.overview")))
