"""A promotion between two real n8n instances (opt-in: N8N_URL / N8N_API_KEY name the source,
N8N_TARGET_URL / N8N_TARGET_API_KEY the target, e.g. two start.sh with their own N8N_HOME and
N8N_PORT): a workflow that calls another is created in the target with the call pointing at
the target's copy, then a new version lands in place (same n8n id and webhook id); a
credential mapped to the target's own and a tag map by name, and a rollback by hand puts the
previous version back (its webhook answering again); a credential the target lacks lands on
a placeholder made there (inactive). Everything it creates is named "n8n-ops it ..." and
deleted again."""

from __future__ import annotations

import contextlib
import os
import uuid
from types import SimpleNamespace

import pytest
import requests

from services.n8n import N8nClient, N8nNotFound
from services.promotions import deployments
from tests.canonical import link, make_canonical, run, sync_env
from tests.drift import on_plan, principal
from tests.jobs.helpers import wait_for
from tests.promotions import (
    Seed,
    approve,
    deploy_now,
    map_credential,
    pipeline,
    promote,
    state,
    workflow,
)

pytestmark = pytest.mark.real_n8n

SOURCE = SimpleNamespace(
    url=os.environ.get("N8N_URL", ""), api_key=os.environ.get("N8N_API_KEY", "")
)
TARGET = SimpleNamespace(
    url=os.environ.get("N8N_TARGET_URL", ""), api_key=os.environ.get("N8N_TARGET_API_KEY", "")
)


@pytest.fixture
def pair():
    if not (SOURCE.url and SOURCE.api_key and TARGET.url and TARGET.api_key):
        pytest.skip("N8N_URL/N8N_API_KEY and N8N_TARGET_URL/N8N_TARGET_API_KEY name no pair")
    created: list[tuple[N8nClient, str]] = []
    with (
        N8nClient(SOURCE.url, SOURCE.api_key, allow_private=True) as source,
        N8nClient(TARGET.url, TARGET.api_key, allow_private=True) as target,
    ):
        yield source, target, created
        for client, workflow_id in reversed(created):
            with contextlib.suppress(N8nNotFound):
                client.delete_workflow(workflow_id)


def _body(name: str, call: str | None = None) -> dict:
    body = workflow(name)
    if call:
        body["nodes"][1].update(
            type="n8n-nodes-base.executeWorkflow",
            typeVersion=1.2,
            parameters={
                "source": "database",
                "workflowId": {"__rl": True, "mode": "id", "value": call},
            },
        )
    return {k: body[k] for k in ("name", "nodes", "connections", "settings")}


def test_a_promotion_between_two_real_n8n(app, factory, tenant, pair, worker):
    source, target, created = pair
    on_plan(factory, tenant, "pro")
    tag = uuid.uuid4().hex[:6]
    callee = source.create_workflow(_body(f"n8n-ops it callee {tag}"))
    caller = source.create_workflow(_body(f"n8n-ops it caller {tag}", call=str(callee["id"])))
    created += [(source, str(callee["id"])), (source, str(caller["id"]))]
    dev = factory.environment(tenant.id, SOURCE, environment_class="dev")
    staging = factory.environment(tenant.id, TARGET, environment_class="staging")
    sync_env(factory, tenant, dev)
    seeds = {}
    for name, wf in (("callee", callee), ("caller", caller)):
        seeds[name] = Seed(make_canonical(factory, tenant, wf["name"]), str(wf["id"]))
        link(factory, tenant, dev, str(wf["id"]), seeds[name].canonical_id)
    approve(factory, tenant, dev, _Reader(source), seeds)
    pipe = pipeline(factory, tenant, dev, staging)

    first = promote(factory, tenant, pipe, dev, staging, seeds)
    job = deploy_now(app, factory, tenant, first)

    assert job.status == "completed", job.error_message
    _, _, by_name = state(app, tenant, first.id)
    new_callee = by_name[callee["name"]].target_n8n_id
    new_caller = by_name[caller["name"]].target_n8n_id
    created += [(target, new_callee), (target, new_caller)]
    landed = target.get_workflow(new_caller)
    call = next(n for n in landed["nodes"] if n["name"] == "Call")
    assert call["parameters"]["workflowId"]["value"] == new_callee
    hook = next(n for n in landed["nodes"] if n["name"] == "Webhook")

    # A new version in dev lands in place in the target.
    route = (pipe, dev, staging)
    second, job = _promote_a_new_path(app, factory, tenant, route, source, str(caller["id"]), seeds)

    assert job.status == "completed", job.error_message
    _, _, again = state(app, tenant, second.id)
    assert again[caller["name"]].target_n8n_id == new_caller
    again_hook = next(n for n in target.get_workflow(new_caller)["nodes"] if n["name"] == "Webhook")
    assert again_hook["webhookId"] == hook["webhookId"]
    assert again_hook["parameters"]["path"].endswith("-v2")


def test_a_reference_the_target_lacks_lands_on_a_placeholder(app, factory, tenant, pair, worker):
    source, target, created = pair
    on_plan(factory, tenant, "pro")
    tag = uuid.uuid4().hex[:6]
    secret = source.create_credential(
        f"n8n-ops it key {tag}", "httpHeaderAuth", {"name": "X-Key", "value": "not-a-secret"}
    )
    body = _body(f"n8n-ops it keyed {tag}")
    body["nodes"][1]["credentials"] = {
        "httpHeaderAuth": {"id": str(secret["id"]), "name": secret["name"]}
    }
    keyed = source.create_workflow(body)
    created.append((source, str(keyed["id"])))
    dev = factory.environment(tenant.id, SOURCE, environment_class="dev")
    staging = factory.environment(tenant.id, TARGET, environment_class="staging")
    sync_env(factory, tenant, dev)
    seeds = {"keyed": Seed(make_canonical(factory, tenant, keyed["name"]), str(keyed["id"]))}
    link(factory, tenant, dev, str(keyed["id"]), seeds["keyed"].canonical_id)
    approve(factory, tenant, dev, _Reader(source), seeds)
    pipe = pipeline(factory, tenant, dev, staging, policy={"allow_placeholder_credentials": True})
    promotion = promote(factory, tenant, pipe, dev, staging, seeds)

    job = deploy_now(app, factory, tenant, promotion)

    _, _, by_name = state(app, tenant, promotion.id)
    row = by_name[keyed["name"]]
    if row.target_n8n_id:
        created.append((target, row.target_n8n_id))
    made = [(target, p["id"]) for p in row.placeholder_credentials]
    try:
        assert job.status == "completed", job.error_message
        [placeholder] = row.placeholder_credentials
        landed = target.get_workflow(row.target_n8n_id)
        call = next(n for n in landed["nodes"] if n["name"] == "Call")
        assert call["credentials"]["httpHeaderAuth"] == {
            "id": placeholder["id"],
            "name": f"{secret['name']} (placeholder from n8n-ops)",
        }
        assert landed["active"] is False
    finally:
        for client, credential_id in [(source, str(secret["id"])), *made]:
            with contextlib.suppress(N8nNotFound):
                client.delete_credential(credential_id)


def test_credentials_and_tags_map_by_name_and_a_rollback_restores_the_last_version(
    app, factory, tenant, pair, worker
):
    source, target, created = pair
    on_plan(factory, tenant, "pro")
    tag = uuid.uuid4().hex[:6]
    secrets = [
        (client, client.create_credential(f"n8n-ops it {side} {tag}", "httpHeaderAuth", data))
        for client, side, data in (
            (source, "dev", {"name": "X-Key", "value": "dev-not-a-secret"}),
            (target, "staging", {"name": "X-Key", "value": "staging-not-a-secret"}),
        )
    ]
    (_, dev_secret), (_, staging_secret) = secrets
    label = f"n8n-ops it {tag}"
    # The same tag name in both instances under different ids: tags map by name.
    dev_tag, staging_tag = source.create_tag(label), target.create_tag(label)
    keyed = source.create_workflow(_keyed(f"n8n-ops it keyed {tag}", dev_secret))
    created.append((source, str(keyed["id"])))
    source.set_workflow_tags(str(keyed["id"]), [str(dev_tag["id"])])
    source.activate_workflow(str(keyed["id"]))  # so the target's copy is active and answers
    # Staging knows its credential only from a workflow that uses it (1.x lists none).
    user = target.create_workflow(_keyed(f"n8n-ops it user {tag}", staging_secret))
    created.append((target, str(user["id"])))
    dev = factory.environment(tenant.id, SOURCE, environment_class="dev")
    staging = factory.environment(tenant.id, TARGET, environment_class="staging")
    sync_env(factory, tenant, dev)
    sync_env(factory, tenant, staging)
    names = {dev: dev_secret["name"], staging: staging_secret["name"]}
    map_credential(factory, tenant, "httpHeaderAuth", "Key", names)
    seeds = {"keyed": Seed(make_canonical(factory, tenant, keyed["name"]), str(keyed["id"]))}
    link(factory, tenant, dev, str(keyed["id"]), seeds["keyed"].canonical_id)
    approve(factory, tenant, dev, _Reader(source), seeds)
    pipe = pipeline(factory, tenant, dev, staging)
    try:
        first = promote(factory, tenant, pipe, dev, staging, seeds)
        job = deploy_now(app, factory, tenant, first)
        assert job.status == "completed", job.error_message
        landed_id = state(app, tenant, first.id)[2][keyed["name"]].target_n8n_id
        created.append((target, landed_id))
        landed = target.get_workflow(landed_id)
        call = next(n for n in landed["nodes"] if n["name"] == "Call")
        assert call["credentials"]["httpHeaderAuth"] == {
            "id": str(staging_secret["id"]),
            "name": staging_secret["name"],
        }
        assert [(t["id"], t["name"]) for t in landed["tags"]] == [(staging_tag["id"], label)]
        hook = next(n for n in landed["nodes"] if n["name"] == "Webhook")
        path = hook["parameters"]["path"]
        assert landed["active"] and _answers(path)

        # A second version lands in place; a rollback by hand puts the first one back.
        route = (pipe, dev, staging)
        second, job = _promote_a_new_path(
            app, factory, tenant, route, source, str(keyed["id"]), seeds
        )
        assert job.status == "completed", job.error_message
        assert state(app, tenant, second.id)[2][keyed["name"]].target_n8n_id == landed_id
        v2 = next(n for n in target.get_workflow(landed_id)["nodes"] if n["name"] == "Webhook")
        assert v2["parameters"]["path"] == path + "-v2" and _answers(path + "-v2")

        back = run(factory, tenant, deployments.rollback, second.id, principal=principal(tenant))
        job = wait_for(app, tenant.id, back.rollback_job_id, timeout=60)

        assert job.status == "completed", job.error_message
        restored = target.get_workflow(landed_id)
        assert restored["nodes"] == landed["nodes"]
        assert [t["id"] for t in restored["tags"]] == [staging_tag["id"]]
        # Still active: the first version's webhook answers again, the second's no more.
        assert restored["active"] and _answers(path) and not _answers(path + "-v2")
        assert {r.rollback_status for r in state(app, tenant, second.id)[2].values()} == {
            "restored"
        }
    finally:
        for client, made in ((source, dev_tag), (target, staging_tag)):
            with contextlib.suppress(N8nNotFound):
                client.request("DELETE", f"/tags/{made['id']}")
        for client, secret in secrets:
            with contextlib.suppress(N8nNotFound):
                client.delete_credential(str(secret["id"]))


def _promote_a_new_path(app, factory, tenant, route, source, workflow_id, seeds):
    """Append "-v2" to the Webhook path of ``workflow_id`` in the source, approve and promote
    it again along ``route`` (pipeline, dev, staging): (the promotion, its deployment job)."""
    pipe, dev, staging = route
    changed = source.get_workflow(workflow_id)
    next(n for n in changed["nodes"] if n["name"] == "Webhook")["parameters"]["path"] += "-v2"
    source.update_workflow(
        workflow_id, {k: changed[k] for k in ("name", "nodes", "connections", "settings")}
    )
    sync_env(factory, tenant, dev)
    approve(factory, tenant, dev, _Reader(source), seeds)
    promotion = promote(factory, tenant, pipe, dev, staging, seeds)
    return promotion, deploy_now(app, factory, tenant, promotion)


def _answers(path: str) -> bool:
    """Whether the target's production webhook at ``path`` takes a POST."""
    return requests.post(f"{TARGET.url}/webhook/{path}", json={}, timeout=10).status_code == 200


def _keyed(name: str, secret: dict) -> dict:
    """A body whose Call node uses ``secret`` (an httpHeaderAuth credential)."""
    body = _body(name)
    body["nodes"][1]["credentials"] = {
        "httpHeaderAuth": {"id": str(secret["id"]), "name": secret["name"]}
    }
    return body


class _Reader:
    """What ``approve`` reads from an instance: ``workflow(id)``."""

    def __init__(self, client: N8nClient) -> None:
        self._client = client

    def workflow(self, workflow_id: str) -> dict:
        return self._client.get_workflow(workflow_id)
