"""The audit trail of the tenant: who changed what (and as whom), for its admins."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import audit_log
from web.auth import requires
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "audit", __name__, url_prefix="/audit-logs", description="Who changed what, and as whom"
)


class AuditEntrySchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    action = ma.fields.String(dump_only=True, allow_none=True)
    action_type = ma.fields.String(dump_only=True)
    actor_id = ma.fields.UUID(dump_only=True, allow_none=True)
    impersonated_user_id = ma.fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Set when a platform admin acted as this user"},
    )
    impersonation_session_id = ma.fields.UUID(dump_only=True, allow_none=True)
    resource_type = ma.fields.String(dump_only=True, allow_none=True)
    resource_id = ma.fields.String(dump_only=True, allow_none=True)
    old_value = ma.fields.Raw(
        dump_only=True, allow_none=True, metadata={"description": "Secrets only as *_set flags"}
    )
    new_value = ma.fields.Raw(dump_only=True, allow_none=True)
    metadata_ = ma.fields.Dict(dump_only=True, attribute="meta", data_key="metadata")
    ip_address = ma.fields.String(dump_only=True, allow_none=True)
    user_agent = ma.fields.String(dump_only=True, allow_none=True)


class AuditFilterArgs(ma.Schema):
    actor_id = ma.fields.UUID()
    action = ma.fields.String(
        validate=ma.validate.Length(min=1, max=100),
        metadata={"description": 'An action ("user.invite") or its family ("user")'},
    )
    resource_type = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    resource_id = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    created_after = ma.fields.AwareDateTime(default_timezone=None)
    created_before = ma.fields.AwareDateTime(default_timezone=None)

    @ma.post_load
    def _filters(self, data, **kwargs):
        """Gather the filter fields into one AuditFilters; leave paging options as they are."""
        chosen = {name: data.pop(name) for name in list(data) if name in _FILTER_FIELDS}
        return {**data, "filters": audit_log.AuditFilters(**chosen)}


_FILTER_FIELDS = set(AuditFilterArgs._declared_fields)


class AuditListArgs(PageArgs, AuditFilterArgs):
    pass


@blp.route("")
class AuditEntries(MethodView):
    @requires("audit:read")
    @blp.arguments(AuditListArgs, location="query", as_kwargs=True)
    @blp.response(200, AuditEntrySchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit, filters):
        """List the tenant's audit entries, newest first"""
        return paginate(audit_log.list_query(filters), page=page, limit=limit)


@blp.route("/<uuid:audit_id>")
class AuditEntryById(MethodView):
    @requires("audit:read")
    @blp.response(200, AuditEntrySchema)
    def get(self, audit_id):
        """One audit entry"""
        return audit_log.get(audit_id)
