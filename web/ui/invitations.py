"""Invitations: admins invite people by email with a role, see who has not joined yet, reissue
and revoke; the invitee joins in the browser with the invitation and their own sign-in."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, redirect, render_template, request, url_for

from models.db import current_tenant
from models.tenancy import ROLES
from services import audit, invitations, users
from services.errors import DomainError, Unauthenticated
from services.identity import TOKEN_PREFIX, for_subject, jwt_subject, memberships
from web.api.users import UserSchema
from web.auth import requires
from web.ui.base import done, form, listing, page_blueprint
from web.ui.signin import open_session

bp = page_blueprint("ui_invitations", __name__)
join_bp = page_blueprint("ui_join", __name__, public=True)


def _page(issued=None, status: int = 200):
    pending = listing(invitations.pending_query())
    expiries = invitations.expiries([user.id for user in pending["rows"]])
    page = render_template(
        "invitations.html",
        pending=pending,
        expiries=expiries,
        roles=ROLES,
        issued=issued,
        now=datetime.now(UTC),
    )
    # The token is shown once: no copy of the page may be kept.
    return page, status, {"Cache-Control": "no-store"}


@bp.get("/invitations")
@requires("users:manage")
def invitation_list():
    """Pending invitations."""
    return _page()


@bp.post("/invitations")
@requires("users:manage")
def invite():
    """Invite a person by email with a role; the invitation is shown once."""
    return _page(users.create_user(**form(UserSchema())), 201)


@bp.post("/invitations/<uuid:user_id>/reissue")
@requires("users:manage")
def reissue(user_id):
    """A new invitation for someone who has not joined (the old one stops working)."""
    return _page(users.reinvite(user_id), 201)


@bp.post("/invitations/<uuid:user_id>/revoke")
@requires("users:manage")
def revoke(user_id):
    """Withdraw an invitation."""
    user = users.revoke_invitation(user_id)
    return done(f"Invitation of {user.email} revoked.", "ui_invitations.invitation_list")


@join_bp.get("/join")
def join():
    """Accept an invitation: the form (the link carries the invitation after a #)."""
    return render_template("join.html")


@join_bp.post("/join")
def join_post():
    """Accept with one's own sign-in (a JWT), then open a session in the tenant joined."""
    settings = current_app.config["SETTINGS"]
    audit.set_actor(
        audit.AuditActor(
            ip_address=request.remote_addr, user_agent=request.user_agent.string[:500] or None
        )
    )
    credential = request.form.get("credential", "").strip()
    try:
        if credential.startswith(TOKEN_PREFIX):
            raise Unauthenticated(
                "Sign in with your own identity (a JWT): an API token belongs to a user already.",
                code="jwt_required",
            )
        subject = jwt_subject(credential, settings)
        invitations.accept(request.form.get("token", ""), subject=subject)
    except DomainError as error:
        return render_template("join.html", error=error.message), error.status
    tenant_id = current_tenant()  # the tenant joined (accept runs as it)
    choices = memberships(subject)
    open_session(for_subject(subject, tenant_id), subject=subject, choices=choices)
    return redirect(url_for("ui_overview.overview"), code=303)
