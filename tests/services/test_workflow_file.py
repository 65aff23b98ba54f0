"""Workflow files: what they keep and leave out, same bytes for the same workflow, and the
round trip n8n JSON -> file -> n8n JSON that keeps behaviour, node ids and webhook ids."""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import subprocess
import uuid

import pytest

from services.n8n.payload import NODE_KEYS_1X
from services.workflow_digest import semantic_digest
from services.workflow_file import (
    CANONICAL_PREFIX,
    InvalidWorkflowFile,
    dump,
    from_n8n,
    parse,
    render,
    to_n8n,
)
from services.workflow_file_format import NODE_FIELDS
from tests.fake_n8n.samples import REAL_WORKFLOW_1_123
from tests.fake_n8n.validation import validate_workflow_body
from tests.services.workflow_samples import (
    DEV_IDS,
    PROD_IDS,
    edited,
    named,
    node,
    orders,
    workflow,
)

CANONICAL_ID = "3f9d2c1e-7a4b-4c8d-9e0f-a1b2c3d4e5f6"
PROD_TARGETS = {"sub-invoice": "prodSub0000000001", "err-handler": "prodErr0000000001"}
PROD_CREDENTIALS = {("httpHeaderAuth", "CRM token"): {"id": "prodCred01", "name": "CRM token"}}


def _render(workflow, ids=DEV_IDS):
    return render(workflow, canonical_id=CANONICAL_ID, slug="orders", workflow_ref=ids.get)


def _to_prod(file, base=None):
    return to_n8n(
        file,
        resolve_workflow=PROD_TARGETS.get,
        resolve_credential=lambda t, n: PROD_CREDENTIALS.get((t, n)),
        base=base,
    )


def test_the_file_keeps_what_restores_the_workflow_and_nothing_per_instance():
    content = json.loads(_render(orders()))
    assert list(content) == [
        "n8n-ops",
        "name",
        "active",
        "tags",
        "settings",
        "nodes",
        "connections",
    ]
    assert content["n8n-ops"] == {"format": 1, "canonicalId": CANONICAL_ID, "slug": "orders"}
    assert content["active"] is True
    assert content["tags"] == ["billing", "crm"]
    # Sticky notes last; every node without its per-instance id and webhookId.
    assert [n["name"] for n in content["nodes"]] == [
        "Fetch customer",
        "Invoice",
        "Legacy call",
        "Webhook",
        "Sticky Note",
    ]
    for n in content["nodes"]:
        assert set(n) <= set(NODE_FIELDS)
    fetch = content["nodes"][0]
    assert list(fetch)[:4] == ["name", "type", "typeVersion", "position"]
    assert fetch["credentials"] == {"httpHeaderAuth": {"name": "CRM token"}}
    assert fetch["notes"] == "CRM lookup"
    assert content["nodes"][-1]["parameters"]["content"] == "## Orders\nCalls the CRM."


def test_references_to_other_workflows_become_canonical_ids():
    content = json.loads(_render(orders()))
    nodes = {n["name"]: n for n in content["nodes"]}
    assert nodes["Invoice"]["parameters"]["workflowId"] == {
        "__rl": True,
        "cachedResultName": "Send invoice",
        "mode": "list",
        "value": "canonical:sub-invoice",
    }
    assert nodes["Legacy call"]["parameters"]["workflowId"] == "canonical:sub-invoice"
    assert content["settings"] == {
        "callerIds": "canonical:sub-invoice,canonical:err-handler",
        "callerPolicy": "workflowsFromAList",
        "errorWorkflow": "canonical:err-handler",
        "executionOrder": "v1",
    }


def test_a_reference_without_canonical_workflow_keeps_its_id_and_expressions_stay():
    dynamic = edited(
        orders(),
        lambda w: named(w, "Legacy call")["parameters"].update(workflowId="={{ $json.target }}"),
    )
    content = json.loads(_render(dynamic, ids={}))
    nodes = {n["name"]: n for n in content["nodes"]}
    assert nodes["Invoice"]["parameters"]["workflowId"]["value"] == "devSub00000000001"
    assert nodes["Legacy call"]["parameters"]["workflowId"] == "={{ $json.target }}"


def test_layout_is_stable_readable_and_ends_with_one_newline():
    data = _render(orders())
    text = data.decode("utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert '      "position": [220, 0],\n' in text
    assert '  "tags": ["billing", "crm"],\n' in text
    assert '{"node": "Fetch customer", "type": "main", "index": 0}' in text
    unicode = edited(orders(), lambda w: w.update(name="Bestellungen: Größe ✓"))
    assert '"name": "Bestellungen: Größe ✓"' in _render(unicode).decode("utf-8")


def _shuffled(value, rng):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@pytest.mark.parametrize("seed", range(5))
def test_same_workflow_same_bytes_whatever_the_key_and_node_order(seed):
    rng = random.Random(seed)
    scrambled = _shuffled(orders(), rng)
    rng.shuffle(scrambled["nodes"])
    scrambled["tags"].reverse()
    named(scrambled, "Webhook")["typeVersion"] = 2.0
    assert _render(scrambled) == _render(orders())


def test_the_same_workflow_in_two_environments_renders_the_same_bytes():
    assert _render(orders("prod"), PROD_IDS) == _render(orders("dev"), DEV_IDS)


def test_parse_and_dump_reproduce_the_rendered_bytes():
    data = _render(orders())
    assert dump(parse(data)) == data


def test_a_file_is_dumped_once_and_a_changed_copy_anew():
    file = parse(_render(orders()))
    assert dump(file) is dump(file)
    renamed = dataclasses.replace(file, name="Renamed")
    assert dump(renamed) != dump(file) and parse(dump(renamed)).name == "Renamed"


def test_the_recorded_real_n8n_workflow_renders_parses_and_keeps_its_digest():
    data = render(REAL_WORKFLOW_1_123, canonical_id="seed", slug="seed", workflow_ref={}.get)
    file = parse(data, canonical_id="seed")
    assert file.name == "Seed: Webhook + Set"
    assert file.tags == ("seed",) and file.active is True
    # availableInMCP comes back from GET but a write rejects it.
    assert dict(file.settings) == {"callerPolicy": "workflowsFromSameOwner", "executionOrder": "v1"}
    assert file.semantic_digest() == semantic_digest(REAL_WORKFLOW_1_123)


def test_file_digest_equals_each_environments_digest_under_its_mapping():
    file = parse(_render(orders()))
    assert file.semantic_digest() == semantic_digest(orders("dev"), workflow_ref=DEV_IDS.get)
    assert file.semantic_digest() == semantic_digest(orders("prod"), workflow_ref=PROD_IDS.get)
    assert file.workflow_refs() == ["err-handler", "sub-invoice"]
    assert file.credential_refs() == [("httpHeaderAuth", "CRM token")]


def test_round_trip_into_another_environment_behaves_the_same():
    body, problems = _to_prod(parse(_render(orders("dev"))))
    assert problems == []
    assert semantic_digest(body, workflow_ref=PROD_IDS.get) == semantic_digest(
        orders("dev"), workflow_ref=DEV_IDS.get
    )
    fetch = named(body, "Fetch customer")
    assert fetch["credentials"] == {"httpHeaderAuth": {"id": "prodCred01", "name": "CRM token"}}
    assert named(body, "Invoice")["parameters"]["workflowId"] == {
        "__rl": True,
        "cachedResultName": "Send invoice",
        "cachedResultUrl": "/workflow/prodSub0000000001",
        "mode": "list",
        "value": "prodSub0000000001",
    }
    assert named(body, "Legacy call")["parameters"]["workflowId"] == "prodSub0000000001"
    assert body["settings"]["callerIds"] == "prodSub0000000001,prodErr0000000001"
    assert body["settings"]["errorWorkflow"] == "prodErr0000000001"


def test_the_body_is_what_n8n_accepts_on_write():
    base = orders("prod")
    body, _ = _to_prod(parse(_render(orders("dev"))), base=base)
    validate_workflow_body(body)  # raises the 400 n8n would send
    assert set(body) == {"name", "nodes", "connections", "settings", "staticData"}
    assert all(set(n) <= NODE_KEYS_1X for n in body["nodes"])
    assert "pinData" not in body


def test_deploying_over_a_target_keeps_its_node_ids_webhook_ids_and_static_data():
    base = orders("prod")
    base["staticData"] = {"node:Webhook": {"prod": True}}
    body, _ = _to_prod(parse(_render(orders("dev"))), base=base)
    webhook = named(body, "Webhook")
    assert webhook["webhookId"] == "prod-hook-uuid"
    assert {n["name"]: n["id"] for n in body["nodes"]} == {
        n["name"]: n["id"] for n in base["nodes"]
    }
    assert body["staticData"] == {"node:Webhook": {"prod": True}}


def test_a_node_renamed_since_the_target_copy_keeps_the_targets_ids():
    renamed = edited(orders("dev"), lambda w: named(w, "Webhook").update(name="Order hook"))
    renamed["connections"]["Order hook"] = renamed["connections"].pop("Webhook")
    body, _ = _to_prod(parse(_render(renamed)), base=orders("prod"))
    hook = named(body, "Order hook")
    assert (hook["id"], hook["webhookId"]) == ("id-Webhook", "prod-hook-uuid")


def test_without_a_target_copy_nodes_get_stable_ids_and_no_static_data():
    file = parse(_render(orders("dev")))
    first, _ = _to_prod(file)
    again, _ = _to_prod(file)
    assert "staticData" not in first
    ids = [n["id"] for n in first["nodes"]]
    assert ids == [n["id"] for n in again["nodes"]] and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 5 for i in ids)
    # n8n adds missing node ids on write but no webhookIds: nodes receiving calls get one.
    hooks = {n["name"]: n.get("webhookId") for n in first["nodes"]}
    assert uuid.UUID(hooks.pop("Webhook")).version == 5
    assert set(hooks.values()) == {None}
    assert named(again, "Webhook")["webhookId"] == named(first, "Webhook")["webhookId"]


def test_every_unresolvable_reference_is_reported_at_once():
    file = parse(_render(orders("dev"), ids={"devSub00000000001": "sub-invoice"}))
    body, problems = to_n8n(file, resolve_workflow={}.get, resolve_credential=lambda t, n: None)
    found = [(p.kind, p.node or "", p.path, p.reference) for p in problems]
    assert sorted(found) == [
        ("credential", "Fetch customer", "credentials.httpHeaderAuth", "httpHeaderAuth:CRM token"),
        ("workflow", "", "settings.callerIds", "devErr00000000001"),
        ("workflow", "", "settings.callerIds", "sub-invoice"),
        ("workflow", "", "settings.errorWorkflow", "devErr00000000001"),
        ("workflow", "Invoice", "parameters.workflowId", "sub-invoice"),
        ("workflow", "Legacy call", "parameters.workflowId", "sub-invoice"),
    ]
    by_path = {(p.node, p.path): p.message for p in problems}
    assert "no canonical workflow" in by_path[(None, "settings.errorWorkflow")]
    assert "target does not have" in by_path[("Invoice", "parameters.workflowId")]
    assert problems[0].as_dict()["message"]
    # What could not be resolved is sent as it stands; the caller decides.
    assert named(body, "Fetch customer")["credentials"] == {
        "httpHeaderAuth": {"id": None, "name": "CRM token"}
    }
    assert named(body, "Legacy call")["parameters"]["workflowId"] == "canonical:sub-invoice"


def test_a_body_with_an_integer_past_64_bits_is_copied_too():
    big = orders("dev")
    named(big, "Fetch customer")["parameters"]["limit"] = 2**70
    file = parse(_render(big))
    body, _ = _to_prod(file)
    assert named(body, "Fetch customer")["parameters"]["limit"] == 2**70
    named(body, "Fetch customer")["parameters"]["limit"] = 0
    assert named(file.workflow, "Fetch customer")["parameters"]["limit"] == 2**70


def test_to_n8n_never_changes_the_file():
    file = parse(_render(orders("dev")))
    before = copy.deepcopy(file.nodes)
    body, _ = _to_prod(file, base=orders("prod"))
    named(body, "Fetch customer")["parameters"]["url"] = "mutated"
    assert file.nodes == before


def _git_diff(tmp_path, old: bytes, new: bytes) -> list[str]:
    (tmp_path / "old.json").write_bytes(old)
    (tmp_path / "new.json").write_bytes(new)
    result = subprocess.run(
        ["git", "diff", "--no-index", "--unified=0", "old.json", "new.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    return [
        line
        for line in result.stdout.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_a_git_diff_after_a_one_parameter_change_shows_only_that_change(tmp_path):
    changed = edited(orders(), lambda w: named(w, "Webhook")["parameters"].update(path="orders-v2"))
    changed["nodes"].reverse()  # n8n returns nodes in any order
    assert _git_diff(tmp_path, _render(orders()), _render(changed)) == [
        '-        "path": "orders"',
        '+        "path": "orders-v2"',
    ]


def test_a_git_diff_after_moving_a_node_shows_only_its_position(tmp_path):
    moved = edited(orders(), lambda w: named(w, "Invoice").update(position=[480, 40]))
    assert _git_diff(tmp_path, _render(orders()), _render(moved)) == [
        '-      "position": [440, 0],',
        '+      "position": [480, 40],',
    ]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda w: w.pop("name"), "$.name: must be a non-empty string"),
        (
            lambda w: w["nodes"].append(node("Webhook", "n8n-nodes-base.noOp")),
            "has the same name as",
        ),
        (
            lambda w: named(w, "Fetch customer")["credentials"].update(x={"id": "1"}),
            ".credentials.x",
        ),
    ],
    ids=["no name", "duplicate node name", "credential without name"],
)
def test_a_workflow_that_cannot_be_a_file_is_refused_with_the_reason(edit, problem):
    with pytest.raises(InvalidWorkflowFile) as caught:
        _render(edited(orders(), edit))
    assert problem in str(caught.value)


def test_a_minimal_workflow_renders():
    minimal = workflow(node("Start", "n8n-nodes-base.manualTrigger"), settings={}, tags=None)
    minimal.pop("active")
    file = from_n8n(minimal, canonical_id="m1", slug="m", workflow_ref={}.get)
    assert (file.active, file.tags, dict(file.settings), dict(file.connections)) == (
        False,
        (),
        {},
        {},
    )
    assert file.nodes[0]["parameters"] == {}
    assert CANONICAL_PREFIX not in dump(file).decode()
    assert copy.deepcopy(file) == file


def test_a_new_node_never_takes_an_id_the_target_already_uses():
    file = parse(_render(orders("dev")))
    first, _ = _to_prod(file)
    stable = named(first, "Webhook")["id"]
    # The target's copy has a node (renamed and moved there) holding that id already.
    base = orders("prod")
    named(base, "Webhook").update(id=stable, name="Hook", type="n8n-nodes-base.noOp")
    named(base, "Hook")["position"] = [999, 999]
    body, _ = _to_prod(file, base=base)
    ids = [n["id"] for n in body["nodes"]]
    assert len(set(ids)) == len(ids) and named(body, "Webhook")["id"] != stable


def test_drift_compares_file_and_environment_digests_under_the_same_ignore_rules():
    rules = ["$.nodes[?@.name == 'Webhook'].parameters.path"]
    file = parse(_render(orders("dev")))
    hotfixed = edited(orders("prod"), lambda w: named(w, "Webhook")["parameters"].update(path="x"))
    env_digest = semantic_digest(hotfixed, workflow_ref=PROD_IDS.get, ignore_rules=rules)
    assert file.semantic_digest(ignore_rules=rules) == env_digest
    assert file.semantic_digest() != semantic_digest(hotfixed, workflow_ref=PROD_IDS.get)


def test_a_files_digest_is_remembered_per_credential_key_and_rules():
    file = parse(_render(orders()), canonical_id=CANONICAL_ID)
    plain = file.semantic_digest()
    by_id = file.semantic_digest(credential_key=lambda cred_type, ref: str(ref.get("id")))
    without_name = file.semantic_digest(ignore_rules=["$.name"])

    assert file.semantic_digest() == plain
    assert len({plain, by_id, without_name}) == 3
    fresh = parse(_render(orders()), canonical_id=CANONICAL_ID)
    assert fresh.semantic_digest(ignore_rules=["$.name"]) == without_name
