"""The current user and tenant."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import tenants, users
from web.api.users import UserSchema
from web.auth import current_principal, requires

blp = Blueprint("me", __name__, url_prefix="/me", description="Who is calling")


class TenantSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String()
    slug = ma.fields.String()
    subscription_tier = ma.fields.String()
    created_at = ma.fields.DateTime()


class MeSchema(ma.Schema):
    user = ma.fields.Nested(UserSchema)
    tenant = ma.fields.Nested(TenantSchema)
    is_platform_admin = ma.fields.Boolean()
    auth_method = ma.fields.String(metadata={"description": "token or jwt"})


@blp.route("")
class Me(MethodView):
    @requires("me:read")
    @blp.response(200, MeSchema)
    def get(self):
        """The authenticated user, their tenant and role"""
        principal = current_principal()
        return {
            "user": users.get_user(principal.user_id),
            "tenant": tenants.current(),
            "is_platform_admin": principal.is_platform_admin,
            "auth_method": "token" if principal.token_id else "jwt",
        }
