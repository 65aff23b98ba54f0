"""Sign-in and sign-out: a personal token or a Supabase JWT, exchanged once for a server-side
session; the token itself is never kept in the browser or the session. A person who belongs
to several tenants picks one (their verified subject waits in the session meanwhile)."""

from __future__ import annotations

import uuid

from flask import current_app, g, redirect, render_template, request, session, url_for

from models.db import db
from services import tenants
from services.errors import DomainError, InvalidInput, Unauthenticated
from services.identity import (
    TOKEN_PREFIX,
    Membership,
    Principal,
    authenticate,
    for_subject,
    jwt_subject,
    memberships,
)
from web.ui.base import page_blueprint

bp = page_blueprint("ui_session", __name__, public=True)


def _next_page(target: str | None = None) -> str:
    target = request.args.get("next", "") if target is None else target
    # Only a path of this site: never an absolute or scheme-relative URL.
    if target.startswith("/ui") and not target.startswith("//"):
        return target
    return url_for("ui_overview.overview")


def open_session(principal: Principal, *, subject: str | None, choices: list[Membership]) -> None:
    """Start a fresh session (a new id: no fixation) as ``principal``; ``choices`` are the
    tenants the header's switcher offers (a person's other memberships)."""
    chosen = [m for m in choices if m.tenant_id == principal.tenant_id]
    session.clear()
    session.update(
        user_id=str(principal.user_id),
        tenant_id=str(principal.tenant_id),
        tenant_name=chosen[0].tenant_name if chosen else tenants.current().name,
        tenants=[[str(m.tenant_id), m.tenant_name] for m in choices] if len(choices) > 1 else [],
        subject=subject,
        token_id=str(principal.token_id) if principal.token_id else None,
        is_platform_admin=principal.is_platform_admin,
    )
    current_app.session_interface.regenerate(session)
    g.principal = principal


@bp.get("/sign-in")
def sign_in():
    """The sign-in form."""
    return render_template("sign_in.html")


@bp.post("/sign-in")
def sign_in_post():
    """Check the credential and open a session, or let a member of several tenants pick."""
    credential = request.form.get("credential", "").strip()
    settings = current_app.config["SETTINGS"]
    subject, choices = None, []
    try:
        if credential.startswith(TOKEN_PREFIX):
            principal = authenticate(credential, settings)
        else:
            subject = jwt_subject(credential, settings)
            choices = memberships(subject)
            if len(choices) > 1:
                return _pick(subject)
            principal = for_subject(subject, None)
    except DomainError as error:
        return render_template("sign_in.html", error=error.message), error.status
    db.commit()  # the token's last use
    open_session(principal, subject=subject, choices=choices)
    return redirect(_next_page(), code=303)


def _pick(subject: str):
    session.clear()
    session.update(pick_subject=subject, pick_next=_next_page())
    current_app.session_interface.regenerate(session)
    return redirect(url_for("ui_session.pick_tenant"), code=303)


def _pick_subject() -> str:
    subject = session.get("pick_subject")
    if subject is None:
        raise Unauthenticated("Sign in first.", code="missing_credentials")
    return subject


@bp.get("/sign-in/tenant")
def pick_tenant():
    """The tenants a person signing in belongs to, to pick one."""
    choices = memberships(_pick_subject())
    return render_template("tenant_pick.html", choices=choices)


@bp.post("/sign-in/tenant")
def pick_tenant_post():
    """Open the session in the tenant picked."""
    subject, target = _pick_subject(), session.get("pick_next")
    choices = memberships(subject)
    principal = for_subject(subject, tenant_choice())
    open_session(principal, subject=subject, choices=choices)
    return redirect(_next_page(target), code=303)


def tenant_choice() -> uuid.UUID:
    """The tenant a form names."""
    try:
        return uuid.UUID(request.form.get("tenant_id", ""))
    except ValueError:
        raise InvalidInput("Pick one of your tenants.", code="tenant_required") from None


@bp.post("/sign-out")
def sign_out():
    """End the session."""
    session.clear()
    return redirect(url_for("ui_session.sign_in"), code=303)
