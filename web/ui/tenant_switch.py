"""The header's tenant switcher: a person who belongs to several tenants moves the session
to another one, checked as the API checks X-Tenant-ID (not a member: signed out, 401)."""

from __future__ import annotations

from flask import flash, g, redirect, session, url_for

from services.identity import for_subject, memberships, no_membership
from web.auth import requires
from web.ui.base import page_blueprint
from web.ui.signin import open_session, tenant_choice

bp = page_blueprint("ui_tenant", __name__)


@bp.post("/tenant")
@requires("me:read")
def switch():
    """Act in another of my tenants from now on."""
    tenant_id, subject = tenant_choice(), session.get("subject")
    if subject is None:
        # A personal token belongs to one tenant only.
        if tenant_id != g.principal.tenant_id:
            raise no_membership()
        return redirect(url_for("ui_overview.overview"), code=303)
    choices = memberships(subject)
    open_session(for_subject(subject, tenant_id), subject=subject, choices=choices)
    flash(f"Now in {session['tenant_name']}.", "ok")
    # The page open may show an object of the tenant left: start from the overview.
    return redirect(url_for("ui_overview.overview"), code=303)
