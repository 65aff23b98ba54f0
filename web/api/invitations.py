"""Accepting an invitation: a signed-in person binds their identity to the invited user."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from services import invitations, tenants, users
from web.api.me import MeSchema
from web.auth import requires
from web.errors import ErrorSchema

blp = Blueprint("invitations", __name__, url_prefix="/invitations", description="Joining a tenant")


class AcceptSchema(ma.Schema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


@blp.route("/accept")
class InvitationAccept(MethodView):
    @requires("invitations:accept")
    @blp.arguments(AcceptSchema)
    @blp.response(200, MeSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="Unknown, used or expired")
    @blp.alt_response(409, schema=ErrorSchema, description="Already a member of that tenant")
    def post(self, data):
        """Accept an invitation with your sign-in (JWT): you become that user of its tenant"""
        user_id = invitations.accept(data["token"], subject=g.subject)
        return {
            "user": users.get_user(user_id),
            "tenant": tenants.current(),
            "is_platform_admin": False,
            "auth_method": "jwt",
        }
