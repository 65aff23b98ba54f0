"""Tenant settings: users and roles, the signed-in user's tokens, ignore rules."""

from __future__ import annotations

from flask import render_template

from models.tenancy import ROLES
from services import ignore_rules, tokens, users
from web.api.ignore_rules import IgnoreRuleSchema
from web.api.tokens import TokenCreateSchema
from web.api.users import UserUpdateSchema
from web.auth import current_principal, requires
from web.ui.base import done, form, listing, page_blueprint

bp = page_blueprint("ui_settings", __name__)


@bp.get("/users")
@requires("users:read")
def user_list():
    """Users and roles."""
    return render_template("users.html", users=listing(users.list_users_query()), roles=ROLES)


@bp.post("/users/<uuid:user_id>")
@requires("users:manage")
def user_update(user_id):
    """Change a user's role or deactivate them."""
    user = users.update_user(user_id, **form(UserUpdateSchema()))
    return done(f"Saved {user.email}.", "ui_settings.user_list")


@bp.get("/tokens")
@requires("tokens:own")
def token_list():
    """My tokens."""
    query = tokens.list_tokens_query(current_principal().user_id)
    return render_template("tokens.html", tokens=listing(query))


@bp.post("/tokens")
@requires("tokens:own")
def token_create():
    """Issue a token; it is shown once."""
    token, secret = tokens.issue_token(current_principal().user_id, **form(TokenCreateSchema()))
    query = tokens.list_tokens_query(current_principal().user_id)
    page = render_template("tokens.html", tokens=listing(query), issued=(token, secret))
    return page, 201, {"Cache-Control": "no-store"}


@bp.post("/tokens/<uuid:token_id>/revoke")
@requires("tokens:own")
def token_revoke(token_id):
    """Revoke a token."""
    tokens.revoke_token(current_principal().user_id, token_id)
    return done("Token revoked.", "ui_settings.token_list")


@bp.get("/ignore-rules")
@requires("ignore_rules:read")
def ignore_rule_list():
    """Ignore rules."""
    return render_template("ignore_rules.html", rules=listing(ignore_rules.list_query()))


@bp.post("/ignore-rules")
@requires("ignore_rules:write")
def ignore_rule_create():
    """Add an ignore rule (workflows are rehashed)."""
    ignore_rules.create(user_id=current_principal().user_id, **form(IgnoreRuleSchema()))
    return done("Rule added; digests are being recomputed.", "ui_settings.ignore_rule_list")


@bp.post("/ignore-rules/<uuid:rule_id>/delete")
@requires("ignore_rules:write")
def ignore_rule_delete(rule_id):
    """Remove an ignore rule."""
    ignore_rules.delete(rule_id, user_id=current_principal().user_id)
    return done("Rule removed; digests are being recomputed.", "ui_settings.ignore_rule_list")
