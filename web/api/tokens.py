"""Personal API tokens of the calling user."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import tokens
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate
from web.security_headers import no_store

blp = Blueprint("tokens", __name__, url_prefix="/tokens", description="Personal API tokens")

#: Longest lifetime a token may be given, in days.
MAX_TOKEN_DAYS = 3650


class TokenSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    display_prefix = ma.fields.String(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    expires_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    last_used_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class TokenCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    expires_in_days = ma.fields.Integer(
        allow_none=True, validate=ma.validate.Range(min=1, max=MAX_TOKEN_DAYS)
    )


class IssuedTokenSchema(TokenSchema):
    token = ma.fields.String(
        dump_only=True, metadata={"description": "The secret, shown this once only"}
    )


@blp.route("")
class Tokens(MethodView):
    @requires("tokens:own")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, TokenSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit):
        """List your tokens (never their secrets)"""
        query = tokens.list_tokens_query(current_principal().user_id)
        return paginate(query, page=page, limit=limit)

    @no_store
    @requires("tokens:own")
    @blp.arguments(TokenCreateSchema)
    @blp.response(201, IssuedTokenSchema)
    def post(self, data):
        """Create a token; its secret is in this response only"""
        token, secret = tokens.issue_token(current_principal().user_id, **data)
        return {**{field: getattr(token, field) for field in TokenSchema().fields}, "token": secret}


@blp.route("/<uuid:token_id>/revoke")
class TokenRevoke(MethodView):
    @requires("tokens:own")
    @blp.response(200, TokenSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Already revoked")
    def post(self, token_id):
        """Revoke one of your tokens"""
        return tokens.revoke_token(current_principal().user_id, token_id)
