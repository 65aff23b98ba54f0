"""Ignore rules through the API: validated, unique, audited, per tenant; a change recomputes
the tenant's digests in a job."""

from __future__ import annotations

import uuid

from tests.canonical import audit_actions, rows, sync_env, wait_job
from tests.fake_n8n.server import sample_workflow

URL = "/api/v1/ignore-rules"


def test_create_read_update_delete_with_audit(app, client, tenant):
    created = client.post(
        URL, json={"rule": "$.settings.timezone", "description": "DST noise"}, headers=tenant.admin
    )
    assert created.status_code == 201, created.json
    rule_id = created.json["id"]
    assert created.json["rehash_job"]["job_type"] == "workflow_rehash"
    listed = client.get(URL, headers=tenant.viewer)
    assert [r["rule"] for r in listed.json] == ["$.settings.timezone"]
    same = client.patch(f"{URL}/{rule_id}", json={"description": "why"}, headers=tenant.admin)
    assert same.status_code == 200 and same.json["rehash_job"] is None
    moved = client.patch(
        f"{URL}/{rule_id}", json={"rule": "$.settings.executionTimeout"}, headers=tenant.admin
    )
    assert moved.json["rehash_job"]["job_type"] == "workflow_rehash"
    gone = client.delete(f"{URL}/{rule_id}", headers=tenant.admin)
    assert gone.status_code == 202 and gone.json["job_type"] == "workflow_rehash"
    assert client.get(f"{URL}/{rule_id}", headers=tenant.viewer).status_code == 404
    assert [a[0] for a in audit_actions(app, tenant, "ignore_rule.")] == [
        "ignore_rule.create",
        "ignore_rule.update",
        "ignore_rule.update",
        "ignore_rule.delete",
    ]


def test_bad_rules_are_400_with_the_reason_and_change_nothing(client, tenant):
    for rule, reason in [
        ("settings.timezone", "must start at the workflow root"),
        ("$.nodes[?@.name ==", "is not valid JSONPath"),
        ("$", "whole workflow"),
    ]:
        answer = client.post(URL, json={"rule": rule}, headers=tenant.admin)
        assert answer.status_code == 400, (rule, answer.json)
        assert reason in answer.json["message"]
    assert client.get(URL, headers=tenant.viewer).json == []


def test_a_duplicate_is_409_and_only_admins_write(client, tenant):
    assert client.post(URL, json={"rule": "$.name"}, headers=tenant.admin).status_code == 201
    assert client.post(URL, json={"rule": "$.name"}, headers=tenant.admin).status_code == 409
    assert client.post(URL, json={"rule": "$.x"}, headers=tenant.developer).status_code == 403


def test_another_tenants_rule_is_a_404(client, tenant, other_tenant):
    theirs = client.post(URL, json={"rule": "$.name"}, headers=other_tenant.admin).json["id"]
    for call in (client.get, client.delete):
        assert call(f"{URL}/{theirs}", headers=tenant.admin).status_code == 404
    assert client.get(f"{URL}/{uuid.uuid4()}", headers=tenant.admin).status_code == 404
    assert client.get(URL, headers=tenant.admin).json == []


def test_the_rehash_job_recomputes_stored_digests(
    app, client, factory, tenant, environment, fake_n8n, worker
):
    utc = fake_n8n.add_workflow({**sample_workflow("A"), "settings": {"timezone": "UTC"}})
    paris = fake_n8n.add_workflow({**sample_workflow("A"), "settings": {"timezone": "Asia/Tokyo"}})
    sync_env(factory, tenant, environment)
    created = client.post(URL, json={"rule": "$.settings.timezone"}, headers=tenant.admin).json
    job = wait_job(client, tenant, created["rehash_job"]["id"])
    assert job["status"] == "completed", job
    assert job["result"]["runtime"] >= 1
    found = rows(app, tenant, environment)
    assert found[utc["id"]].env_content_hash == found[paris["id"]].env_content_hash
