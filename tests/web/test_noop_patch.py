"""A PATCH that changes nothing changes nothing: same object, same updated_at, no audit row.
Every PATCH operation of the OpenAPI is walked, so a new one is covered without listing."""

from __future__ import annotations

from sqlalchemy import func, select

from models.audit import AuditLog
from models.db import db, reset_context, tenant_scope
from services import ignore_rules
from tests.drift import on_plan
from tests.promotions import pipeline
from tests.web.world import build_world, operations


def _audit_rows(app, tenant_id) -> int:
    with app.app_context(), tenant_scope(tenant_id):
        count = db.scalar(select(func.count()).select_from(AuditLog))
        reset_context()
    return count


def _read(client, url, headers):
    """The object at ``url``: its own GET, or its entry in the collection above it."""
    response = client.get(url, headers=headers)
    if response.status_code != 405:
        assert response.status_code == 200, f"GET {url}: {response.json}"
        return response.json
    collection, _, object_id = url.rpartition("/")
    listed = client.get(f"{collection}?limit=100", headers=headers)
    assert listed.status_code == 200, f"GET {collection}: {listed.json}"
    (found,) = [item for item in listed.json if item["id"] == object_id]
    return found


def test_every_patch_with_the_current_values_is_a_no_op(
    app, client, factory, tenant, environment, fake_n8n
):
    # Objects whose fields are validated on every PATCH come from the product's services.
    rule = factory.run_as(tenant.id, ignore_rules.create, rule="$.settings.timezone")
    on_plan(factory, tenant, "pro")
    staging = factory.environment(tenant.id, fake_n8n, environment_class="staging")
    pipe = pipeline(factory, tenant, environment, staging)
    ours = build_world(tenant.id, env_id=environment.id, rule_id=rule.id, pipeline_id=pipe.id)
    patched = []
    for operation in operations(app):
        if operation.method != "patch":
            continue
        url = ours.url(operation.path)
        before = _read(client, url, tenant.admin)
        writable = operation.example_body().keys() | operation.writable_fields()
        body = {name: before[name] for name in writable if name in before}
        assert body, f"PATCH {operation.path}: no field of it is readable back"
        audits = _audit_rows(app, tenant.id)
        response = client.patch(url, json=body, headers=tenant.admin)
        assert response.status_code == 200, f"PATCH {operation.path}: {response.json}"
        assert _read(client, url, tenant.admin) == before, operation.path
        assert _audit_rows(app, tenant.id) == audits, f"PATCH {operation.path} was audited"
        patched.append(operation.path)
    assert len(patched) >= 5, patched
