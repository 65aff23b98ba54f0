"""Exact and semantic workflow digests: pinned on a real n8n answer, invariant to per-instance
data and layout, sensitive to anything that changes behaviour."""

from __future__ import annotations

import copy
import random

import pytest

from services.workflow_digest import (
    canonical_json,
    exact_digest,
    exact_form,
    rewrite_workflow_references,
    semantic_digest,
    semantic_form,
    tag_names,
)
from tests.fake_n8n.samples import REAL_WORKFLOW_1_123

#: Pinned digests of REAL_WORKFLOW_1_123; a change here changes every stored digest.
GOLDEN_EXACT = "96caf0527d7efc6f77859e032eefb6f6df0b13eef7bd6b4c00db08d1eb9f3129"
GOLDEN_SEMANTIC = "3c339201aa35a78485c4d6639a695e6cfdf367fe9b7f9c8b785f74c6167cf3ee"


@pytest.fixture
def workflow():
    return copy.deepcopy(REAL_WORKFLOW_1_123)


def _edited(workflow, edit):
    changed = copy.deepcopy(workflow)
    edit(changed)
    return changed


def _node(workflow, name):
    return next(n for n in workflow["nodes"] if n["name"] == name)


def test_golden_digests_of_a_real_n8n_answer(workflow):
    assert exact_digest(workflow) == GOLDEN_EXACT
    assert semantic_digest(workflow) == GOLDEN_SEMANTIC


def test_canonical_json_sorts_keys_is_compact_and_utf8():
    assert (
        canonical_json({"b": [1, 2.0], "a": {"é": None}}) == '{"a":{"é":null},"b":[1,2]}'.encode()
    )


def test_exact_form_is_the_writable_payload_with_nodes_sorted_by_name(workflow):
    form = exact_form(workflow)
    assert set(form) == {"name", "nodes", "connections", "settings"}
    assert [n["name"] for n in form["nodes"]] == ["Set", "Webhook"]
    # availableInMCP comes back from GET but a 1.x write refuses it.
    assert form["settings"] == {"executionOrder": "v1", "callerPolicy": "workflowsFromSameOwner"}


def _shuffle_nodes(w):
    random.Random(7).shuffle(w["nodes"])
    w["nodes"].reverse()


READ_ONLY_EDITS = {
    "node order": _shuffle_nodes,
    "id": lambda w: w.update(id="OtherInstance123"),
    "versionId": lambda w: w.update(versionId="v2", activeVersionId=None, versionCounter=9),
    "active": lambda w: w.update(active=False, triggerCount=0, activeVersion=None),
    "timestamps": lambda w: w.update(createdAt="2020-01-01T00:00:00.000Z", updatedAt="x"),
    "tags": lambda w: w.update(tags=[{"id": "t1", "name": "prod"}]),
    "shared": lambda w: w.update(shared=[]),
    "staticData": lambda w: w.update(staticData={"node:Schedule": {"last": 1}}),
    "pinData": lambda w: w.update(pinData={"Set": [{"json": {}}]}),
    "meta": lambda w: w.update(meta={"templateCredsSetupCompleted": True}),
    "GET-only setting": lambda w: w["settings"].update(availableInMCP=True),
}
LAYOUT_AND_IDS = {
    "positions": lambda w: [n.update(position=[n["position"][0] + 500, 40]) for n in w["nodes"]],
    "node ids": lambda w: [n.update(id=f"other-{n['name']}") for n in w["nodes"]],
    "webhookId": lambda w: _node(w, "Webhook").update(webhookId="another-instance-hook"),
    "node notes": lambda w: _node(w, "Set").update(notes="why", notesInFlow=True),
    "sticky note": lambda w: w["nodes"].append(
        {
            "id": "s1",
            "name": "Sticky Note",
            "type": "n8n-nodes-base.stickyNote",
            "typeVersion": 1,
            "position": [0, 300],
            "parameters": {"content": "## Docs"},
        }
    ),
    "default setting spelled out": lambda w: w["settings"].update(
        saveManualExecutions="DEFAULT", executionTimeout=-1, callerIds=""
    ),
    "default node flags spelled out": lambda w: _node(w, "Set").update(
        disabled=False, onError="stopWorkflow", retryOnFail=False, maxTries=3
    ),
    "2.0 for 2": lambda w: _node(w, "Webhook").update(typeVersion=2.0),
    "empty output left by the editor": lambda w: w["connections"].update({"Set": {"main": [[]]}}),
}
BEHAVIOUR_EDITS = {
    "workflow name": lambda w: w.update(name="Renamed"),
    "typeVersion": lambda w: _node(w, "Set").update(typeVersion=3.3),
    "onError": lambda w: _node(w, "Set").update(onError="continueRegularOutput"),
    "disabled": lambda w: _node(w, "Set").update(disabled=True),
    "retryOnFail": lambda w: _node(w, "Set").update(retryOnFail=True),
    "parameter": lambda w: _node(w, "Webhook")["parameters"].update(path="other-hook"),
    "nested parameter": lambda w: _node(w, "Set")["parameters"]["assignments"]["assignments"][
        0
    ].update(value="bye"),
    "node type": lambda w: _node(w, "Set").update(type="n8n-nodes-base.noOp"),
    "node renamed": lambda w: _node(w, "Set").update(name="Set 2"),
    "connection removed": lambda w: w.update(connections={}),
    "connection index": lambda w: w["connections"]["Webhook"]["main"][0][0].update(index=1),
    "timezone": lambda w: w["settings"].update(timezone="Europe/Berlin"),
    "executionOrder": lambda w: w["settings"].update(executionOrder="v0"),
    "errorWorkflow": lambda w: w["settings"].update(errorWorkflow="abc123"),
    "credential name": lambda w: _node(w, "Set").update(
        credentials={"httpHeaderAuth": {"id": "x", "name": "Other auth"}}
    ),
    "real node added": lambda w: w["nodes"].append(
        {"name": "No Op", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "parameters": {}}
    ),
}


@pytest.mark.parametrize("edit", READ_ONLY_EDITS.values(), ids=READ_ONLY_EDITS.keys())
def test_both_digests_ignore_read_only_and_runtime_fields(workflow, edit):
    changed = _edited(workflow, edit)
    assert exact_digest(changed) == exact_digest(workflow)
    assert semantic_digest(changed) == semantic_digest(workflow)


@pytest.mark.parametrize("edit", LAYOUT_AND_IDS.values(), ids=LAYOUT_AND_IDS.keys())
def test_semantic_digest_ignores_layout_ids_and_cosmetics(workflow, edit):
    assert semantic_digest(_edited(workflow, edit)) == semantic_digest(workflow)


@pytest.mark.parametrize("edit", BEHAVIOUR_EDITS.values(), ids=BEHAVIOUR_EDITS.keys())
def test_both_digests_change_with_behaviour(workflow, edit):
    changed = _edited(workflow, edit)
    assert semantic_digest(changed) != semantic_digest(workflow)
    assert exact_digest(changed) != exact_digest(workflow)


@pytest.mark.parametrize("edit", ["positions", "node ids", "webhookId", "sticky note"])
def test_exact_digest_sees_what_semantic_ignores(workflow, edit):
    assert exact_digest(_edited(workflow, LAYOUT_AND_IDS[edit])) != exact_digest(workflow)


def _with_credential(cred_id, name):
    def edit(w):
        _node(w, "Set")["credentials"] = {"httpHeaderAuth": {"id": cred_id, "name": name}}

    return edit


def test_credentials_compare_through_the_environments_mapping(workflow):
    dev = _edited(workflow, _with_credential("devId", "Dev auth"))
    prod = _edited(workflow, _with_credential("prodId", "Prod auth"))
    logical = {"devId": "crm-auth", "prodId": "crm-auth"}

    def key(cred_type, ref):
        return logical[ref["id"]]

    assert semantic_digest(dev) != semantic_digest(prod)
    assert semantic_digest(dev, credential_key=key) == semantic_digest(prod, credential_key=key)
    form = semantic_form(dev, credential_key=key)
    assert _node(form, "Set")["credentials"] == {"httpHeaderAuth": "crm-auth"}


def test_credentials_default_to_type_and_name(workflow):
    dev = _edited(workflow, _with_credential("devId", "Auth"))
    prod = _edited(workflow, _with_credential("prodId", "Auth"))
    assert semantic_digest(dev) == semantic_digest(prod)
    assert _node(semantic_form(dev), "Set")["credentials"] == {
        "httpHeaderAuth": "httpHeaderAuth:Auth"
    }


def _caller(workflow_id):
    return {
        "id": "n9",
        "name": "Call sub-workflow",
        "type": "n8n-nodes-base.executeWorkflow",
        "typeVersion": 1.2,
        "position": [440, 0],
        "parameters": {"workflowId": workflow_id, "options": {}},
    }


@pytest.mark.parametrize(
    ("dev_ref", "prod_ref"),
    [
        ("devSub", "prodSub"),
        (
            {"__rl": True, "value": "devSub", "mode": "list", "cachedResultName": "Sub (dev)"},
            {"__rl": True, "value": "prodSub", "mode": "list", "cachedResultName": "Sub"},
        ),
    ],
    ids=["plain id", "resource locator"],
)
def test_workflow_references_compare_through_canonical_ids(workflow, dev_ref, prod_ref):
    dev = _edited(workflow, lambda w: w["nodes"].append(_caller(dev_ref)))
    prod = _edited(workflow, lambda w: w["nodes"].append(_caller(prod_ref)))
    dev["settings"]["errorWorkflow"] = "devErr"
    prod["settings"]["errorWorkflow"] = "prodErr"
    canonical = {"devSub": "sub", "prodSub": "sub", "devErr": "err", "prodErr": "err"}
    assert semantic_digest(dev) != semantic_digest(prod)
    assert semantic_digest(dev, workflow_ref=canonical.get) == semantic_digest(
        prod, workflow_ref=canonical.get
    )


def test_expressions_in_workflow_references_are_left_alone(workflow):
    dynamic = _edited(workflow, lambda w: w["nodes"].append(_caller("={{ $json.target }}")))
    form = semantic_form(dynamic, workflow_ref=lambda ref: pytest.fail(f"mapped {ref}"))
    assert _node(form, "Call sub-workflow")["parameters"]["workflowId"] == "={{ $json.target }}"


def test_sticky_notes_are_left_out_of_the_semantic_form(workflow):
    form = semantic_form(_edited(workflow, LAYOUT_AND_IDS["sticky note"]))
    assert [n["name"] for n in form["nodes"]] == ["Set", "Webhook"]


def test_tags_compare_by_name_separately(workflow):
    assert tag_names(workflow) == ["seed"]
    other = _edited(workflow, lambda w: w.update(tags=[{"id": "prodTag", "name": "seed"}]))
    assert tag_names(other) == tag_names(workflow)


def test_every_workflow_reference_is_visited_with_its_site(workflow):
    with_refs = _edited(
        workflow, lambda w: w["nodes"].append(_caller({"__rl": True, "value": "a"}))
    )
    with_refs["settings"].update(errorWorkflow="b", callerIds="c, ,d")
    seen = []

    def rewrite(workflow_id, site):
        seen.append((workflow_id, site.node, site.path))
        return workflow_id.upper()

    out = rewrite_workflow_references(with_refs, rewrite)
    assert seen == [
        ("a", "Call sub-workflow", "parameters.workflowId"),
        ("b", None, "settings.errorWorkflow"),
        ("c", None, "settings.callerIds"),
        ("d", None, "settings.callerIds"),
    ]
    assert _node(out, "Call sub-workflow")["parameters"]["workflowId"]["value"] == "A"
    assert out["settings"]["callerIds"] == "C,D"
    assert with_refs["settings"]["callerIds"] == "c, ,d"  # the input is left alone


def test_a_reference_with_no_canonical_workflow_keeps_its_id(workflow):
    called = _edited(workflow, lambda w: w["nodes"].append(_caller("unknownId")))
    form = semantic_form(called, workflow_ref={}.get)
    assert _node(form, "Call sub-workflow")["parameters"]["workflowId"] == "unknownId"
