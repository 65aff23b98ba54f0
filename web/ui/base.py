"""What every dashboard blueprint shares: the signed-in principal from the session, CSRF on
each change, and errors as pages (the API answers the same errors in JSON)."""

from __future__ import annotations

import uuid

import marshmallow as ma
from flask import (
    Blueprint,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from services import audit
from services.errors import DomainError, Forbidden, PolicyBlocked, Unauthenticated
from services.identity import resume
from web.auth import PERMISSIONS, PLATFORM
from web.pagination import paginate

csrf = CSRFProtect()

#: Methods that change nothing: no CSRF token needed.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def page_blueprint(name: str, import_name: str, *, public: bool = False) -> Blueprint:
    """A dashboard blueprint: CSRF checked on every change, the session's principal loaded
    (unless ``public``), errors rendered as pages."""
    bp = Blueprint(name, import_name, url_prefix="/ui", template_folder="templates")
    bp.before_request(_check_csrf)
    if not public:
        bp.before_request(load_principal)
    bp.register_error_handler(DomainError, _domain_error)
    bp.register_error_handler(ma.ValidationError, _invalid_form)
    bp.register_error_handler(CSRFError, _csrf_error)
    bp.register_error_handler(HTTPException, _http_error)
    return bp


def _check_csrf() -> None:
    if request.method not in SAFE_METHODS:
        csrf.protect()


def load_principal() -> None:
    """Resume the session's principal (its user as it is now) for ``requires`` and audit."""
    user_id = session.get("user_id")
    if user_id is None:
        raise Unauthenticated("Sign in first.", code="missing_credentials")
    token_id = session.get("token_id")
    try:
        g.principal = resume(
            uuid.UUID(user_id),
            uuid.UUID(session["tenant_id"]),
            token_id=uuid.UUID(token_id) if token_id else None,
            is_platform_admin=session.get("is_platform_admin", False),
        )
    except Forbidden as error:
        # A person signed in with their own identity whose membership here was removed
        # signs in again (into the tenants left); a personal token's user sees the 403.
        if session.get("subject") and error.code == "user_inactive":
            raise Unauthenticated(
                "You no longer belong to that tenant: sign in again.", code="no_membership"
            ) from error
        raise
    audit.set_actor(
        audit.AuditActor(
            actor_id=g.principal.user_id,
            ip_address=request.remote_addr,
            user_agent=request.user_agent.string[:500] or None,
        )
    )


def can(action: str) -> bool:
    """Whether the signed-in user's role allows ``action`` (the API's table decides)."""
    principal = g.get("principal")
    if principal is None:
        return False
    minimum = PERMISSIONS[action]
    return principal.is_platform_admin if minimum == PLATFORM else principal.has_role(minimum)


def done(message: str, endpoint: str, **values):
    """After a change: say what happened and show the page it changed (303, Post/Redirect/Get).
    htmx follows it and swaps the page in."""
    flash(message, "ok")
    return redirect(url_for(endpoint, **values), code=303)


def form(schema: ma.Schema, **defaults) -> dict:
    """The posted form, validated by the API's own schema; an empty field counts as left out
    (``defaults`` fill those the schema requires)."""
    data = {k: v for k, v in request.form.items() if v != "" and k != "csrf_token"}
    return schema.load({**defaults, **data})


def _back():
    if request.method in SAFE_METHODS:
        return None
    target = request.referrer or url_for("ui_overview.overview")
    # htmx swaps the redirect's page in; a plain form post follows it too.
    return redirect(target, code=303)


def _domain_error(error: DomainError):
    if isinstance(error, Unauthenticated):
        session.clear()
        return redirect(url_for("ui_session.sign_in", next=request.full_path.rstrip("?")), code=303)
    # A policy's refusal (approval required, not in the plan) is about the object, not the
    # person's role: said on the page the form came from, like a conflict.
    said_back = isinstance(error, PolicyBlocked) or error.status in (400, 409, 422)
    if said_back and (response := _back()):
        flash(error.message, "error")
        return response
    return render_template("error.html", status=error.status, message=error.message), error.status


def _invalid_form(error: ma.ValidationError):
    fields = error.messages if isinstance(error.messages, dict) else {"form": error.messages}
    flash(
        "Not saved: "
        + "; ".join(f"{name}: {' '.join(map(str, msgs))}" for name, msgs in fields.items()),
        "error",
    )
    return _back() or (render_template("error.html", status=400, message="Invalid."), 400)


def _csrf_error(error: CSRFError):
    message = "The form expired or did not come from this site; reload the page and retry."
    return render_template("error.html", status=400, message=message), 400


def _http_error(error: HTTPException):
    code = error.code or 500
    return render_template("error.html", status=code, message=error.description), code


#: Rows on one page of a dashboard list.
PAGE_SIZE = 50


def listing(query, *, limit: int = PAGE_SIZE) -> dict:
    """One page of ``query`` (?page=N) with what the pager needs, by the API's paginate."""
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < len(page) < 7 and int(page) > 0 else 1
    items, headers = paginate(query, page=page, limit=limit)
    total = int(headers["X-Total-Count"])
    return {"rows": items, "page": page, "total": total, "next": page * limit < total}
