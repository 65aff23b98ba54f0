"""A workflow file deployed between two fake n8n instances through the real client: the
target keeps its workflow id, node ids and webhook ids, and runs what the source runs."""

from __future__ import annotations

import pytest

from services.n8n import N8nClient
from services.workflow_digest import semantic_digest
from services.workflow_file import parse, render, to_n8n
from tests.fake_n8n import FakeN8n
from tests.services.workflow_samples import named, orders


@pytest.fixture
def prod_n8n():
    with FakeN8n() as fake:
        yield fake


def _client(fake):
    return N8nClient(fake.url, fake.api_key, allow_private=True, backoff_s=0)


def _instance(fake, *, path: str):
    """A sub-workflow and the orders workflow calling it, as created in ``fake``."""
    sub = fake.add_workflow(name="Send invoice")
    body = orders()
    for n in body["nodes"]:
        n.pop("id")
        n.pop("webhookId", None)
    named(body, "Webhook")["parameters"]["path"] = path
    named(body, "Invoice")["parameters"]["workflowId"]["value"] = sub["id"]
    named(body, "Legacy call")["parameters"]["workflowId"] = sub["id"]
    body["settings"] = {"executionOrder": "v1", "errorWorkflow": sub["id"]}
    named(body, "Webhook")["webhookId"] = f"{path}-webhook-id"
    main = fake.add_workflow(body)
    return sub["id"], main


def test_a_file_from_dev_updates_prod_in_place(fake_n8n, prod_n8n):
    dev_sub, dev_main = _instance(fake_n8n, path="orders-next")
    prod_sub, prod_main = _instance(prod_n8n, path="orders")
    dev_refs, prod_refs = {dev_sub: "sub"}, {prod_sub: "sub"}
    data = render(dev_main, canonical_id="orders", slug="orders", workflow_ref=dev_refs.get)
    with _client(prod_n8n) as prod:
        base = prod.get_workflow(prod_main["id"])
        body, problems = to_n8n(
            parse(data),
            resolve_workflow={"sub": prod_sub}.get,
            resolve_credential=lambda t, n: {"id": "prodCred", "name": n},
            base=base,
        )
        assert problems == []
        prod.update_workflow(base["id"], body)
        landed = prod.get_workflow(base["id"])
    assert semantic_digest(landed, workflow_ref=prod_refs.get) == semantic_digest(
        dev_main, workflow_ref=dev_refs.get
    )
    assert named(landed, "Webhook")["parameters"]["path"] == "orders-next"
    assert {n["name"]: (n["id"], n.get("webhookId")) for n in landed["nodes"]} == {
        n["name"]: (n["id"], n.get("webhookId")) for n in base["nodes"]
    }
    assert named(landed, "Webhook")["webhookId"] == "orders-webhook-id"


def test_a_file_creates_the_workflow_where_it_is_missing(fake_n8n, prod_n8n):
    dev_sub, dev_main = _instance(fake_n8n, path="orders")
    prod_sub = prod_n8n.add_workflow(name="Send invoice")["id"]
    data = render(dev_main, canonical_id="orders", slug="orders", workflow_ref={dev_sub: "sub"}.get)
    body, problems = to_n8n(
        parse(data),
        resolve_workflow={"sub": prod_sub}.get,
        resolve_credential=lambda t, n: None,
    )
    assert [(p.kind, p.reference) for p in problems] == [("credential", "httpHeaderAuth:CRM token")]
    with _client(prod_n8n) as prod:
        created = prod.create_workflow(body)
    assert created["id"] not in (dev_main["id"], prod_sub)
    assert named(created, "Legacy call")["parameters"]["workflowId"] == prod_sub
    assert created["settings"]["errorWorkflow"] == prod_sub
