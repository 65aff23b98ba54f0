"""The deploy writer against fake n8n instances: in place when linked, created only when not,
tags by name, activation, read-back, unresolved references and tag names n8n refuses refused
before any write, the lease checked before each write, the outcome recorded in
workflow_env_map."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from services import deploy, env_links, environments
from services.workflow_file import dump as dump_file
from services.workflow_file import from_n8n, parse
from tests.canonical import link, make_canonical, rows, run, sync_env
from tests.fake_n8n.server import sample_workflow
from tests.services.workflow_samples import named


def crm_workflow(name: str, cred_id: str) -> dict:
    body = sample_workflow(name)
    body["nodes"][0]["type"] = "n8n-nodes-base.webhook"
    body["nodes"][0]["name"] = "Webhook"
    body["nodes"][0]["parameters"] = {"path": "orders", "httpMethod": "POST"}
    body["nodes"][0]["webhookId"] = "hook-uuid-1"
    body["nodes"][1].update(
        type="n8n-nodes-base.httpRequest",
        parameters={"url": "https://crm.example/a"},
        credentials={"httpHeaderAuth": {"id": cred_id, "name": "CRM token"}},
    )
    body["connections"] = {"Webhook": {"main": [[{"node": "No Op", "type": "main", "index": 0}]]}}
    return body


@pytest.fixture
def dev(factory, tenant, fake_n8n):
    return factory.environment(tenant.id, fake_n8n, environment_class="dev")


@pytest.fixture
def staging(factory, tenant, second_n8n):
    return factory.environment(tenant.id, second_n8n, environment_class="staging")


def _file(app, factory, tenant, env, fake, n8n_id, canonical_id):
    def render():
        refs = env_links.links_for(env.id)
        return from_n8n(
            fake.workflow(n8n_id),
            canonical_id=str(canonical_id),
            slug="orders",
            workflow_ref=refs.workflow_ref,
        )

    return run(factory, tenant, render)


@pytest.fixture
def orders(app, factory, tenant, dev, fake_n8n):
    """A workflow of dev linked to a canonical workflow, and its file."""
    wf = fake_n8n.add_workflow(crm_workflow("Orders", "credA"), tags=["billing", "crm"])
    sync_env(factory, tenant, dev)
    canonical = make_canonical(factory, tenant, "Orders")
    link(factory, tenant, dev, wf["id"], canonical)
    return wf, canonical, _file(app, factory, tenant, dev, fake_n8n, wf["id"], canonical)


def _write(factory, tenant, env, file, *, lease=None, defer=False, **options):
    def write():
        with environments.n8n_session(env) as client:
            writer = deploy.EnvironmentWriter(env, client, lease=lease, defer_records=defer)
            outcome = writer.write(file, **options)
            writer.finish()
            return outcome

    return run(factory, tenant, write)


def test_a_linked_workflow_is_updated_in_place_keeping_node_and_webhook_ids(
    app, factory, tenant, dev, fake_n8n, orders
):
    wf, canonical, file = orders
    text = dump_file(file).replace(b"https://crm.example/a", b"https://crm.example/b")
    changed = parse(text)
    fake_n8n.clear_requests()

    outcome = _write(factory, tenant, dev, changed)

    assert outcome.action == "updated" and outcome.n8n_id == wf["id"]
    assert outcome.verified and outcome.problems == ()
    stored = fake_n8n.workflow(wf["id"])
    assert named(stored, "No Op")["parameters"]["url"] == "https://crm.example/b"
    assert {n["name"]: (n["id"], n.get("webhookId")) for n in stored["nodes"]} == {
        n["name"]: (n["id"], n.get("webhookId")) for n in wf["nodes"]
    }
    assert named(stored, "No Op")["credentials"]["httpHeaderAuth"]["id"] == "credA"
    assert len(fake_n8n.requests_to(r"/workflows", method="POST")) == 0
    # Tags unchanged: no tag call.
    assert not fake_n8n.requests_to(rf"/workflows/{wf['id']}/tags", method="PUT")
    row = rows(app, tenant, dev)[wf["id"]]
    assert row.status == "linked" and row.canonical_id == canonical
    assert row.env_content_hash == row.git_content_hash == outcome.digest == outcome.approved_digest
    assert named(row.workflow_data, "No Op")["parameters"]["url"] == "https://crm.example/b"


def test_records_deferred_to_the_batch_end_are_those_of_an_immediate_write(
    app, factory, tenant, dev, fake_n8n, orders
):
    wf, _, file = orders
    fields = (
        "status", "canonical_id", "workflow_name", "env_content_hash", "git_content_hash",
        "is_active", "is_archived", "tags", "missing_since",
    )  # fmt: skip
    recorded = {}
    for defer in (False, True):
        outcome = _write(factory, tenant, dev, file, defer=defer)
        row = rows(app, tenant, dev)[wf["id"]]
        recorded[defer] = {name: getattr(row, name) for name in fields}
        # What n8n stored this time (its version and time change with every write).
        assert row.workflow_data == outcome.workflow
        assert row.workflow_data_bytes == len(orjson.dumps(outcome.workflow))
        assert row.n8n_updated_at.isoformat().startswith(outcome.workflow["updatedAt"][:19])
    assert recorded[True] == recorded[False]
    assert recorded[True]["status"] == "linked" and recorded[True]["tags"] == ["billing", "crm"]


def test_an_unlinked_canonical_is_created_with_tags_credentials_and_state(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, orders
):
    _, canonical, file = orders
    # Staging has the credential under another id (a workflow uses it), and the tag "crm".
    second_n8n.add_workflow(crm_workflow("Uses CRM", "credB"))
    second_n8n.add_tag("crm")
    sync_env(factory, tenant, staging)
    leases = []

    outcome = _write(factory, tenant, staging, file, lease=lambda: leases.append(1), active=True)

    assert outcome.action == "created" and outcome.active and outcome.verified
    stored = second_n8n.workflow(outcome.n8n_id)
    assert stored["active"] is True
    assert sorted(t["name"] for t in stored["tags"]) == ["billing", "crm"]
    assert named(stored, "No Op")["credentials"]["httpHeaderAuth"] == {
        "id": "credB",
        "name": "CRM token",
    }
    assert "staticData" not in stored or not stored["staticData"]
    # One lease check before each write: create, a tag, the tag set, activation.
    assert len(leases) == len(second_n8n.writes()) == 4
    row = rows(app, tenant, staging)[outcome.n8n_id]
    assert row.canonical_id == canonical and row.status == "linked"
    assert row.env_content_hash == row.git_content_hash


def test_unresolved_references_refuse_the_write_before_anything_changes(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, orders
):
    _, _, file = orders
    second_n8n.clear_requests()

    with pytest.raises(deploy.DeployRefused) as refused:
        _write(factory, tenant, staging, file)

    assert refused.value.status == 409
    assert refused.value.details["problems"][0]["reference"] == "httpHeaderAuth:CRM token"
    assert second_n8n.writes() == []
    allowed = _write(factory, tenant, staging, file, allow_unresolved=True)
    assert allowed.problems[0]["kind"] == "credential"


def test_a_tag_name_n8n_refuses_refuses_the_write_before_anything_changes(
    app, factory, tenant, dev, fake_n8n, orders
):
    _, _, file = orders
    fake_n8n.clear_requests()
    long_name = "t" * (deploy.TAG_NAME_MAX + 1)

    with pytest.raises(deploy.DeployRefused) as refused:
        _write(factory, tenant, dev, dataclasses.replace(file, tags=("crm", long_name)))

    assert refused.value.code == "invalid_tag_names"
    assert refused.value.details["tags"] == [long_name]
    assert fake_n8n.writes() == []


def test_a_linked_workflow_gone_from_n8n_is_created_again_and_the_link_moves(
    app, factory, tenant, dev, fake_n8n, orders
):
    wf, canonical, file = orders
    fake_n8n.store.workflows.pop(wf["id"])

    outcome = _write(factory, tenant, dev, file)

    assert outcome.action == "created" and outcome.n8n_id != wf["id"]
    found = rows(app, tenant, dev)
    assert found[outcome.n8n_id].canonical_id == canonical
    assert found[wf["id"]].canonical_id is None


def test_a_refused_activation_is_reported_not_raised(app, factory, tenant, dev, fake_n8n, orders):
    _, _, file = orders
    fake_n8n.fail_path(r"/activate$", 400, body={"message": "Workflow has no trigger"}, times=1)

    outcome = _write(factory, tenant, dev, file, active=True)

    assert outcome.active is False
    assert outcome.problems[0]["kind"] == "activation"
    assert "no trigger" in outcome.problems[0]["message"]


def test_a_lost_lease_stops_before_the_write(app, factory, tenant, dev, fake_n8n, orders):
    _, _, file = orders
    fake_n8n.clear_requests()

    class Lost(Exception):
        pass

    def lost():
        raise Lost

    with pytest.raises(Lost):
        _write(factory, tenant, dev, file, lease=lost)
    assert fake_n8n.writes() == []
