"""Tenant users: admins invite, change roles and deactivate."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from models.tenancy import ROLES
from services import users
from web.auth import requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint("users", __name__, url_prefix="/users", description="People of this tenant")


class InvitationSchema(ma.Schema):
    token = ma.fields.String(
        metadata={"description": "Pass it to the person; shown once. They accept it signed in"}
    )
    expires_at = ma.fields.DateTime()


class UserSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    email = ma.fields.Email(required=True)
    name = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=200))
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))
    supabase_auth_id = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "The sign-in subject, bound when the user accepts"},
    )
    invitation = ma.fields.Nested(
        InvitationSchema, dump_only=True, metadata={"description": "Only when just issued"}
    )
    is_active = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    updated_at = ma.fields.DateTime(dump_only=True)


class UserUpdateSchema(ma.Schema):
    name = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=200))
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    is_active = ma.fields.Boolean()


class UserListArgs(PageArgs):
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    is_active = ma.fields.Boolean()


@blp.route("")
class Users(MethodView):
    @requires("users:read")
    @blp.arguments(UserListArgs, location="query", as_kwargs=True)
    @blp.response(200, UserSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, **filters):
        """List the tenant's users"""
        return paginate(users.list_users_query(**filters), page=page, limit=limit)

    @requires("users:manage")
    @blp.arguments(UserSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Email already used")
    @blp.alt_response(403, schema=ErrorSchema, description="The plan's member limit is reached")
    def post(self, data):
        """Invite a user with a role: returns the invitation token they accept signed in"""
        return users.create_user(**data)


@blp.route("/<uuid:user_id>")
class UserById(MethodView):
    @requires("users:read")
    @blp.response(200, UserSchema)
    def get(self, user_id):
        """One user"""
        return users.get_user(user_id)

    @requires("users:manage")
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Would leave no active admin")
    def patch(self, data, user_id):
        """Change a user's role, name or active flag"""
        return users.update_user(user_id, **data)


@blp.route("/<uuid:user_id>/deactivate")
class UserDeactivate(MethodView):
    @requires("users:manage")
    @blp.response(200, UserSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Would leave no active admin")
    def post(self, user_id):
        """Deactivate a user: their tokens and sessions stop working"""
        return users.update_user(user_id, is_active=False)


@blp.route("/<uuid:user_id>/invitation")
class UserInvitation(MethodView):
    @requires("users:manage")
    @blp.response(201, UserSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Already accepted, or inactive")
    def post(self, user_id):
        """Issue a new invitation for a user who has not accepted one (the old one dies)"""
        return users.reinvite(user_id)

    @requires("users:manage")
    @blp.response(200, UserSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Accepted already, or none pending")
    def delete(self, user_id):
        """Revoke a pending invitation: it stops working; the user stays until deactivated"""
        return users.revoke_invitation(user_id)
