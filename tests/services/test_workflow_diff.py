"""The structured diff: one table of edits with what each must report, how risky it is, and
the rules that keep it consistent with the semantic digest."""

from __future__ import annotations

import copy
import json
import random

import pytest

from services.workflow_diff import Version, diff_workflows
from services.workflow_file import parse, render
from services.workflow_ignore import validate_ignore_rules
from tests.fake_n8n.samples import REAL_WORKFLOW_1_123
from tests.services.test_workflow_digest import BEHAVIOUR_EDITS, LAYOUT_AND_IDS, READ_ONLY_EDITS
from tests.services.workflow_samples import (
    DEV_IDS,
    PROD_IDS,
    big_workflow,
    damage,
    edited,
    link,
    named,
    node,
    orders,
    workflow,
)


def flow():
    """Manual trigger -> Prepare (Set) -> Log (No Op) -> Send (HTTP)."""
    return workflow(
        node("Start", "n8n-nodes-base.manualTrigger"),
        node(
            "Prepare",
            "n8n-nodes-base.set",
            (200, 0),
            typeVersion=3.4,
            parameters={"mode": "manual", "fields": {"greeting": "hello", "n": "={{ $json.n }}"}},
        ),
        node("Log", "n8n-nodes-base.noOp", (400, 0)),
        node(
            "Send",
            "n8n-nodes-base.httpRequest",
            (600, 0),
            typeVersion=4.2,
            parameters={"url": "https://api.example/orders", "method": "POST"},
            credentials={"httpHeaderAuth": {"id": "c1", "name": "API key"}},
        ),
        connections=link(("Start", "Prepare"), ("Prepare", "Log"), ("Log", "Send")),
    )


def _rename(w, old, new):
    named(w, old)["name"] = new
    connections = w["connections"]
    if old in connections:
        connections[new] = connections.pop(old)
    for by_type in connections.values():
        for outputs in by_type.values():
            for output in outputs:
                for target in output:
                    if target["node"] == old:
                        target["node"] = new


def _add_after(w, source, new_node):
    w["nodes"].append(new_node)
    w["connections"].setdefault(source, {"main": [[]]})["main"][0].append(
        {"node": new_node["name"], "type": "main", "index": 0}
    )


def _rewire(w):
    w["connections"]["Prepare"]["main"][0][0]["node"] = "Send"


#: edit of flow() -> (behaviour changes as (section, action, node, path), risk level).
CASES = {
    "parameter": (
        lambda w: named(w, "Prepare")["parameters"]["fields"].update(greeting="bye"),
        [("node", "changed", "Prepare", "parameters.fields.greeting")],
        "medium",
    ),
    "parameter added": (
        lambda w: named(w, "Prepare")["parameters"].update(includeOtherFields=True),
        [("node", "added", "Prepare", "parameters.includeOtherFields")],
        "medium",
    ),
    "expression": (
        lambda w: named(w, "Prepare")["parameters"]["fields"].update(n="={{ $json.m }}"),
        [("node", "changed", "Prepare", "parameters.fields.n")],
        "high",
    ),
    "http node parameter": (
        lambda w: named(w, "Send")["parameters"].update(url="https://api.example/v2"),
        [("node", "changed", "Send", "parameters.url")],
        "high",
    ),
    "trigger node": (
        lambda w: named(w, "Start").update(typeVersion=2),
        [("node", "changed", "Start", "typeVersion")],
        "high",
    ),
    "typeVersion": (
        lambda w: named(w, "Prepare").update(typeVersion=3.3),
        [("node", "changed", "Prepare", "typeVersion")],
        "medium",
    ),
    "node type": (
        lambda w: named(w, "Log").update(type="n8n-nodes-base.wait"),
        [("node", "changed", "Log", "type")],
        "medium",
    ),
    "http node replaced": (
        lambda w: named(w, "Send").update(type="n8n-nodes-base.noOp"),
        [("node", "changed", "Send", "type")],
        "high",
    ),
    "onError": (
        lambda w: named(w, "Log").update(onError="continueRegularOutput"),
        [("node", "changed", "Log", "onError")],
        "medium",
    ),
    "disabled": (
        lambda w: named(w, "Log").update(disabled=True),
        [("node", "changed", "Log", "disabled")],
        "medium",
    ),
    "credential": (
        lambda w: named(w, "Send").update(
            credentials={"httpHeaderAuth": {"id": "c2", "name": "Other key"}}
        ),
        [("credential", "changed", "Send", "credentials.httpHeaderAuth")],
        "high",
    ),
    "credential added": (
        lambda w: named(w, "Log").update(credentials={"slackApi": {"id": "s", "name": "Slack"}}),
        [("credential", "added", "Log", "credentials.slackApi")],
        "high",
    ),
    "plain node added": (
        lambda w: _add_after(w, "Log", node("Audit", "n8n-nodes-base.noOp", (400, 200))),
        [
            ("node", "added", "Audit", ""),
            ("connection", "added", "Log", "main[0] -> Audit.main[0]"),
        ],
        "low",
    ),
    "code node added": (
        lambda w: _add_after(w, "Log", node("Script", "n8n-nodes-base.code", (400, 200))),
        [
            ("node", "added", "Script", ""),
            ("connection", "added", "Log", "main[0] -> Script.main[0]"),
        ],
        "high",
    ),
    "plain node removed": (
        lambda w: (
            w["nodes"].remove(named(w, "Log")),
            w["connections"].pop("Log"),
            w["connections"].pop("Prepare"),
        ),
        [
            ("node", "removed", "Log", ""),
            ("connection", "removed", "Log", "main[0] -> Send.main[0]"),
            ("connection", "removed", "Prepare", "main[0] -> Log.main[0]"),
        ],
        "low",
    ),
    "node renamed": (
        lambda w: _rename(w, "Log", "Log order"),
        [("node", "renamed", "Log order", "name")],
        "low",
    ),
    "workflow renamed": (
        lambda w: w.update(name="Orders v2"),
        [("workflow", "changed", None, "name")],
        "low",
    ),
    "rewired": (
        _rewire,
        [
            ("connection", "removed", "Prepare", "main[0] -> Log.main[0]"),
            ("connection", "added", "Prepare", "main[0] -> Send.main[0]"),
        ],
        "medium",
    ),
    "setting": (
        lambda w: w["settings"].update(timezone="Europe/Berlin"),
        [("setting", "changed", None, "timezone")],
        "medium",
    ),
    "error workflow": (
        lambda w: w["settings"].update(errorWorkflow="errWf"),
        [("setting", "changed", None, "errorWorkflow")],
        "medium",
    ),
}


def _summary(changes):
    return [(c.section, c.action, c.node, c.path) for c in changes]


@pytest.mark.parametrize(("edit", "expected", "risk"), CASES.values(), ids=CASES.keys())
def test_each_kind_of_change_is_explained_with_its_risk(edit, expected, risk):
    result = diff_workflows(flow(), edited(flow(), edit))
    assert result.identical is False
    assert sorted(_summary(result.changes), key=str) == sorted(expected, key=str)
    assert result.cosmetic == () and result.ignored == ()
    assert result.risk.level == risk
    assert result.risk.reasons[0].level == risk
    json.dumps(result.as_dict())  # an API can return it as it is


def test_a_parameter_change_carries_its_values_and_a_rule_that_would_ignore_it():
    result = diff_workflows(flow(), edited(flow(), CASES["http node parameter"][0]))
    (change,) = result.changes
    assert (change.before, change.after, change.node_type) == (
        "https://api.example/orders",
        "https://api.example/v2",
        "n8n-nodes-base.httpRequest",
    )
    assert change.json_path == "$.nodes[?@.name == 'Send'].parameters.url"
    assert change.as_dict()["json_path"] == change.json_path


def test_credentials_show_names_and_a_mapped_rename_is_only_cosmetic():
    other_name = edited(flow(), CASES["credential"][0])
    (change,) = diff_workflows(flow(), other_name).changes
    assert (change.before, change.after) == ("API key", "Other key")
    logical = {"c1": "crm", "c2": "crm"}

    def key(cred_type, ref):
        return logical[ref["id"]]

    mapped = diff_workflows(
        Version(flow(), credential_key=key), Version(other_name, credential_key=key)
    )
    assert mapped.identical and mapped.changes == ()
    assert _summary(mapped.cosmetic) == [
        ("credential", "changed", "Send", "credentials.httpHeaderAuth")
    ]


COSMETIC = {
    "position": (
        lambda w: named(w, "Log").update(position=[420, 40]),
        [("node", "changed", "Log", "position")],
    ),
    "notes": (
        lambda w: named(w, "Log").update(notes="why", notesInFlow=True),
        [("node", "added", "Log", "notes"), ("node", "added", "Log", "notesInFlow")],
    ),
    "sticky note added": (
        lambda w: w["nodes"].append(
            node("Note", "n8n-nodes-base.stickyNote", parameters={"content": "hi"})
        ),
        [("node", "added", "Note", "")],
    ),
    "default settings spelled out": (
        lambda w: w["settings"].update(saveManualExecutions="DEFAULT", executionTimeout=-1),
        [],
    ),
    "node ids and webhook ids": (
        lambda w: [n.update(id=f"x-{n['name']}", webhookId="w") for n in w["nodes"]],
        [],
    ),
}


@pytest.mark.parametrize(("edit", "expected"), COSMETIC.values(), ids=COSMETIC.keys())
def test_cosmetic_only_changes_are_listed_apart_and_leave_the_versions_identical(edit, expected):
    result = diff_workflows(flow(), edited(flow(), edit))
    assert result.identical and result.changes == ()
    assert _summary(result.cosmetic) == expected
    assert result.risk.level == "low"
    assert result.risk.reasons[0].code == "unchanged"


def test_sticky_note_edits_and_cached_names_are_cosmetic():
    dev = orders()
    changed = edited(dev, lambda w: named(w, "Sticky Note")["parameters"].update(content="new"))
    named(changed, "Invoice")["parameters"]["workflowId"]["cachedResultName"] = "Invoices"
    result = diff_workflows(Version(dev, DEV_IDS.get), Version(changed, DEV_IDS.get))
    assert result.identical
    assert _summary(result.cosmetic) == [
        ("node", "changed", "Invoice", "parameters.workflowId.cachedResultName"),
        ("node", "changed", "Sticky Note", "parameters.content"),
    ]


def test_renames_are_found_by_node_id_then_by_type_and_content():
    renamed_and_changed = edited(flow(), lambda w: _rename(w, "Prepare", "Prepare order"))
    named(renamed_and_changed, "Prepare order")["parameters"]["mode"] = "raw"
    by_id = diff_workflows(flow(), renamed_and_changed)
    assert _summary(by_id.changes) == [
        ("node", "renamed", "Prepare order", "name"),
        ("node", "changed", "Prepare order", "parameters.mode"),
    ]
    # A file has no node ids: the same type at the same position is the renamed node.
    file = parse(render(flow(), canonical_id="f", slug="f", workflow_ref={}.get))
    assert _summary(diff_workflows(file, renamed_and_changed).changes) == _summary(by_id.changes)


def test_look_alike_node_names_are_told_apart():
    lookalikes = workflow(
        node("Set", "n8n-nodes-base.set", (0, 0), parameters={"v": 1}),
        node("Set1", "n8n-nodes-base.set", (0, 100), parameters={"v": 2}),
        node("Set 1", "n8n-nodes-base.set", (0, 200), parameters={"v": 3}),
        node("set", "n8n-nodes-base.set", (0, 300), parameters={"v": 4}),
    )
    changed = edited(lookalikes, lambda w: named(w, "Set 1")["parameters"].update(v=30))
    for n in changed["nodes"]:
        n.pop("id")  # match by name alone
    assert _summary(diff_workflows(lookalikes, changed).changes) == [
        ("node", "changed", "Set 1", "parameters.v")
    ]


def test_the_same_workflow_in_two_environments_is_identical_through_the_mappings():
    result = diff_workflows(
        Version(orders("dev"), DEV_IDS.get), Version(orders("prod"), PROD_IDS.get)
    )
    assert result.identical and result.changes == () and result.cosmetic == ()


def test_a_sub_workflow_call_moved_to_another_canonical_workflow_is_a_change():
    prod = edited(
        orders("prod"),
        lambda w: named(w, "Legacy call")["parameters"].update(workflowId="prodOther00000001"),
    )
    refs = {**PROD_IDS, "prodOther00000001": "sub-other"}
    result = diff_workflows(Version(orders("dev"), DEV_IDS.get), Version(prod, refs.get))
    (change,) = result.changes
    assert (change.node, change.path, change.before, change.after) == (
        "Legacy call",
        "parameters.workflowId",
        "canonical:sub-invoice",
        "canonical:sub-other",
    )
    assert result.risk.level == "high" and result.risk.reasons[0].code == "routing"


def test_git_file_against_an_environment():
    file = parse(render(orders("dev"), canonical_id="o", slug="o", workflow_ref=DEV_IDS.get))
    prod = edited(orders("prod"), lambda w: named(w, "Webhook")["parameters"].update(path="o2"))
    prod["active"] = False
    prod["tags"] = [{"id": "x", "name": "billing"}, {"id": "y", "name": "urgent"}]
    result = diff_workflows(file, Version(prod, PROD_IDS.get))
    assert _summary(result.changes) == [("node", "changed", "Webhook", "parameters.path")]
    assert (result.tags_added, result.tags_removed, result.active) == (
        ("urgent",),
        ("crm",),
        (True, False),
    )
    assert result.as_dict()["active"] == {"before": True, "after": False}


def test_links_in_another_order_are_a_reordering():
    fan_out = edited(flow(), lambda w: _add_after(w, "Prepare", node("B", "n8n-nodes-base.noOp")))
    reordered = copy.deepcopy(fan_out)
    reordered["connections"]["Prepare"]["main"][0].reverse()
    result = diff_workflows(fan_out, reordered)
    assert not result.identical
    assert _summary(result.changes) == [("connection", "reordered", "Prepare", "Prepare outputs")]


def test_ignored_differences_are_shown_as_ignored_and_do_not_count():
    rules = [
        "$.nodes[?@.name == 'Send'].parameters.url",
        "$.settings.timezone",
    ]
    assert validate_ignore_rules(rules) == []
    changed = edited(flow(), CASES["http node parameter"][0])
    changed["settings"]["timezone"] = "Europe/Berlin"
    named(changed, "Log")["position"] = [0, 999]
    result = diff_workflows(flow(), changed, ignore_rules=rules)
    assert result.identical and result.changes == ()
    assert [(c.path, c.ignored_by) for c in result.ignored] == [
        ("parameters.url", rules[0]),
        ("timezone", rules[1]),
    ]
    assert result.ignored[0].as_dict()["ignored_by"] == rules[0]
    assert _summary(result.cosmetic) == [("node", "changed", "Log", "position")]
    assert result.summary()["ignored"] == 2
    assert result.risk.level == "low"


def test_a_rule_that_matches_one_side_only_hides_nothing():
    """Renamed, the node no longer matches the rule on the new side: the digest differs and
    the diff says so."""
    rule = "$.nodes[?@.name == 'Send'].parameters.url"
    changed = edited(flow(), lambda w: _rename(w, "Send", "Send order"))
    named(changed, "Send order")["parameters"]["url"] = "https://api.example/v2"
    result = diff_workflows(flow(), changed, ignore_rules=[rule])
    assert not result.identical
    assert ("node", "added", "Send order", "parameters.url") in _summary(result.changes)


def test_every_suggested_json_path_ignores_its_change():
    changed = flow()
    for case, (edit, _, _) in CASES.items():
        if case not in ("plain node removed", "node renamed", "rewired", "node type"):
            edit(changed)
    found = diff_workflows(flow(), changed)
    for change in found.changes:
        again = diff_workflows(flow(), changed, ignore_rules=[change.json_path])
        assert change.key in {c.key for c in again.ignored}, change.json_path


@pytest.mark.parametrize("edit", BEHAVIOUR_EDITS.values(), ids=BEHAVIOUR_EDITS.keys())
def test_whenever_the_digest_differs_the_diff_explains_why(edit):
    result = diff_workflows(REAL_WORKFLOW_1_123, edited(REAL_WORKFLOW_1_123, edit))
    assert not result.identical and result.changes


@pytest.mark.parametrize(
    "edit",
    [*READ_ONLY_EDITS.values(), *LAYOUT_AND_IDS.values()],
    ids=[*READ_ONLY_EDITS.keys(), *LAYOUT_AND_IDS.keys()],
)
def test_whenever_the_digest_is_equal_the_diff_lists_only_cosmetic_entries(edit):
    result = diff_workflows(REAL_WORKFLOW_1_123, edited(REAL_WORKFLOW_1_123, edit))
    assert result.identical and result.changes == ()


def test_a_workflow_of_600_nodes_diffs_exactly():
    big = big_workflow(600)
    shuffled = copy.deepcopy(big)
    random.Random(3).shuffle(shuffled["nodes"])
    assert diff_workflows(big, shuffled).identical
    changed = edited(big, lambda w: named(w, "Step 417")["parameters"]["fields"].update(index=0))
    named(changed, "Step 9")["position"] = [1, 1]
    result = diff_workflows(big, changed)
    assert _summary(result.changes) == [("node", "changed", "Step 417", "parameters.fields.index")]
    assert _summary(result.cosmetic) == [("node", "changed", "Step 9", "position")]


def test_commit_against_commit_and_the_summary_a_page_shows():
    def file_of(w):
        return parse(render(w, canonical_id="o", slug="o", workflow_ref=DEV_IDS.get))

    newer = edited(orders(), lambda w: _add_after(w, "Webhook", node("Log", "n8n-nodes-base.noOp")))
    named(newer, "Webhook")["parameters"]["path"] = "orders-2"
    newer["nodes"].remove(named(newer, "Legacy call"))
    newer["connections"]["Fetch customer"]["main"][0].pop()
    _rename(newer, "Invoice", "Send invoice")
    named(newer, "Send invoice")["position"] = [460, 0]
    result = diff_workflows(file_of(orders()), file_of(newer))
    assert result.summary() == {
        "nodes_added": 1,
        "nodes_removed": 1,
        "nodes_renamed": 1,
        "nodes_changed": 1,
        "connections_added": 1,
        "connections_removed": 1,
        "settings_changed": 0,
        "credentials_changed": 0,
        "cosmetic": 1,
        "ignored": 0,
    }
    assert [c.node for c in result.of("node", "renamed")] == ["Send invoice"]
    assert result.risk.level == "high"
    assert [r.code for r in result.risk.reasons] == ["routing", "trigger", "node_added", "rename"]
    page = result.as_dict()
    assert json.loads(json.dumps(page)) == page
    assert page["changes"][0]["section"] == "node"


def test_a_damaged_workflow_is_diffed_without_error():
    """Cached copies can be cut short or damaged; the diff still answers, never raises."""
    rng = random.Random(5)
    for _ in range(300):
        damaged = orders()
        for _ in range(rng.randint(1, 4)):
            damaged = damage(damaged, rng)
        result = diff_workflows(
            Version(orders(), DEV_IDS.get),
            Version(damaged, DEV_IDS.get),
            ignore_rules=["$.nodes[?@.name == 'Webhook'].parameters", "$.settings"],
        )
        json.dumps(result.as_dict())
        diff_workflows(damaged, orders())
