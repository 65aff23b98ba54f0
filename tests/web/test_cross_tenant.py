"""Every operation of the OpenAPI that names an object, called with another tenant's ids,
answers exactly as for an object that does not exist: 404, same body. New endpoints are
walked without being listed (tests/web/world.py must know their path parameters)."""

from __future__ import annotations

import pytest

from services.identity import ROLE_RANK as RANK
from tests.web.world import build_world, missing_url, operations


def test_every_id_bearing_operation_hides_another_tenants_objects(app, tenant, other_tenant):
    theirs = build_world(other_tenant.id)
    client = app.test_client()
    checked = []
    for operation in operations(app):
        if not operation.ids:
            continue
        call = getattr(client, operation.method)
        minimum = RANK[operation.spec["x-minimum-role"]]
        for role in [role for role, rank in RANK.items() if rank >= minimum]:
            headers = tenant.headers(role)
            body, query = operation.example_body(), operation.example_query()
            missing = call(
                missing_url(operation.path), json=body, query_string=query, headers=headers
            )
            response = call(
                theirs.url(operation.path), json=body, query_string=query, headers=headers
            )
            where = f"{role} {operation.method.upper()} {operation.path}"
            # A body the example cannot make valid (one field going with another) is refused
            # before any lookup: the same answer for both is what matters.
            assert missing.status_code in {404, 400, 422}, (
                f"{where}: a missing object gave {missing.status_code}"
            )
            assert response.status_code == missing.status_code, f"{where}: {response.json}"
            assert response.json == missing.json, where
            if missing.status_code == 404:
                checked.append((operation.method, operation.path))
    assert len(set(checked)) >= 25, checked


def test_a_path_parameter_without_a_builder_fails_the_walk(make_app):
    from flask.views import MethodView
    from flask_smorest import Blueprint

    app = make_app()
    blp = Blueprint("gadgets", __name__, url_prefix="/api/v1/gadgets")

    @blp.route("/<uuid:gadget_id>")
    class Gadget(MethodView):
        def get(self, gadget_id):
            """A kind of object no builder knows"""

    app.extensions["n8nops_api"].register_blueprint(blp)
    with pytest.raises(LookupError, match="gadget_id"):
        list(operations(app))


def test_the_walk_covers_every_id_bearing_operation(app):
    walked = {(op.method, op.path) for op in operations(app) if op.ids}
    assert ("patch", "/api/v1/users/{user_id}") in walked
    assert ("get", "/api/v1/environments/{env_id}/workflows/{workflow_id}") in walked
    assert len(walked) >= 25
