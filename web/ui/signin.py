"""Sign-in and sign-out: a personal token or a Supabase JWT, exchanged once for a server-side
session; the token itself is never kept in the browser or the session."""

from __future__ import annotations

from flask import current_app, g, redirect, render_template, request, session, url_for

from models.db import db
from services.errors import DomainError
from services.identity import authenticate
from web.ui.base import page_blueprint

bp = page_blueprint("ui_session", __name__, public=True)


def _next_page() -> str:
    target = request.args.get("next", "")
    # Only a path of this site: never an absolute or scheme-relative URL.
    if target.startswith("/ui") and not target.startswith("//"):
        return target
    return url_for("ui_overview.overview")


@bp.get("/sign-in")
def sign_in():
    """The sign-in form."""
    return render_template("sign_in.html")


@bp.post("/sign-in")
def sign_in_post():
    """Check the credential and open a session."""
    credential = request.form.get("credential", "").strip()
    try:
        principal = authenticate(credential, current_app.config["SETTINGS"])
    except DomainError as error:
        return render_template("sign_in.html", error=error.message), error.status
    db.commit()  # the token's last use
    session.clear()
    session.update(
        user_id=str(principal.user_id),
        tenant_id=str(principal.tenant_id),
        token_id=str(principal.token_id) if principal.token_id else None,
        is_platform_admin=principal.is_platform_admin,
    )
    current_app.session_interface.regenerate(session)  # a new id: no session fixation
    g.principal = principal
    return redirect(_next_page(), code=303)


@bp.post("/sign-out")
def sign_out():
    """End the session."""
    session.clear()
    return redirect(url_for("ui_session.sign_in"), code=303)
