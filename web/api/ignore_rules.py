"""The tenant's ignore rules: JSONPath queries that comparisons leave out (like Argo CD's
ignoreDifferences). A change recomputes the tenant's digests in a workflow_rehash job."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from services import ignore_rules
from services.workflow_ignore import MAX_RULE_LENGTH
from web.api.jobs import JobSchema, accepted
from web.auth import current_principal, requires
from web.errors import ErrorSchema
from web.pagination import PAGE_HEADERS, PageArgs, paginate

blp = Blueprint(
    "ignore_rules",
    __name__,
    url_prefix="/ignore-rules",
    description="JSONPath rules naming workflow parts that drift and promotions ignore",
)


class IgnoreRuleSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    rule = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_RULE_LENGTH),
        metadata={"description": "RFC 9535 JSONPath, e.g. $.settings.timezone"},
    )
    description = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=2000))
    created_by = ma.fields.UUID(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)
    updated_at = ma.fields.DateTime(dump_only=True)
    rehash_job = ma.fields.Nested(
        JobSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The job recomputing digests under the changed rules"},
    )


@blp.route("")
class IgnoreRules(MethodView):
    @requires("ignore_rules:read")
    @blp.arguments(PageArgs, location="query", as_kwargs=True)
    @blp.response(200, IgnoreRuleSchema(many=True), headers=PAGE_HEADERS)
    def get(self, page, limit):
        """List the tenant's ignore rules"""
        return paginate(ignore_rules.list_query(), page=page, limit=limit)

    @requires("ignore_rules:write")
    @blp.arguments(IgnoreRuleSchema)
    @blp.response(201, IgnoreRuleSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The rule exists already")
    def post(self, data):
        """Add a rule (validated); digests are recomputed in a job"""
        return ignore_rules.create(user_id=current_principal().user_id, **data)


@blp.route("/<uuid:rule_id>")
class IgnoreRuleById(MethodView):
    @requires("ignore_rules:read")
    @blp.response(200, IgnoreRuleSchema)
    def get(self, rule_id):
        """One ignore rule"""
        return ignore_rules.get(rule_id)

    @requires("ignore_rules:write")
    @blp.arguments(IgnoreRuleSchema(partial=True))
    @blp.response(200, IgnoreRuleSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The rule exists already")
    def patch(self, data, rule_id):
        """Change a rule or its description; a new query recomputes digests"""
        return ignore_rules.update(rule_id, user_id=current_principal().user_id, **data)

    @requires("ignore_rules:write")
    @blp.response(202, JobSchema)
    def delete(self, rule_id):
        """Remove a rule; answers the job recomputing digests"""
        return accepted(ignore_rules.delete(rule_id, user_id=current_principal().user_id))
