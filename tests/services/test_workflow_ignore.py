"""Ignore rules: validated with precise messages, removed from both sides before the digest,
never changing the workflow they are applied to."""

from __future__ import annotations

import copy

import pytest

from services.workflow_digest import semantic_digest
from services.workflow_ignore import (
    MAX_RULES,
    InvalidIgnoreRule,
    apply_ignore_rules,
    matched_locations,
    validate_ignore_rules,
)
from tests.services.workflow_samples import edited, named, orders

INVALID = {
    "not a list": ("$.name", ["ignore rules must be a list of JSONPath strings"]),
    "not a string": ([5], ["rule 1 (5) must be a string, not int"]),
    "empty": ([" "], ["rule 1 (' ') is empty"]),
    "no root": (["nodes[0]"], ["rule 1 ('nodes[0]') must start at the workflow root '$'"]),
    "whole workflow": (["$"], ["rule 1 ('$') selects the whole workflow; name a part of it"]),
    "syntax": (
        ["$.settings.timezone", "$.nodes[?(@.name = 'HTTP')]"],
        [
            "rule 2 (\"$.nodes[?(@.name = 'HTTP')]\") is not valid JSONPath (RFC 9535): "
            "unexpected token '=' at character 18"
        ],
    ),
    "unknown function": (
        ["$.nodes[?regex(@.name, 'H.*')]"],
        ["rule 1 (\"$.nodes[?regex(@.name, 'H.*')]\") is not valid JSONPath (RFC 9535): "],
    ),
    "too long": (["$." + "a" * 600], ["is longer than 500 characters"]),
    "repeated": (["$.name", "$.name"], ["rule 2 ('$.name') repeats an earlier rule"]),
    "too many": ([f"$.settings.k{i}" for i in range(MAX_RULES + 1)], ["at most 200 ignore rules"]),
}


@pytest.mark.parametrize(("rules", "messages"), INVALID.values(), ids=INVALID.keys())
def test_invalid_rules_are_rejected_with_a_precise_message(rules, messages):
    errors = validate_ignore_rules(rules)
    assert len(errors) == len(messages)
    for error, message in zip(errors, messages, strict=True):
        assert message in error


VALID = [
    "$.settings.timezone",
    "$.nodes[?(@.name == 'HTTP Request')].parameters.url",
    "$.nodes[?@.name == 'HTTP Request'].parameters.url",
    "$.nodes[?@.type == 'n8n-nodes-base.stickyNote']",
    "$.nodes[?match(@.name, 'Debug.*')]",
    "$.nodes[*].parameters.options.timeout",
    "$..cachedResultName",
    "$.connections['Debug']",
]


def test_valid_rules_pass():
    assert validate_ignore_rules(VALID) == []


def test_a_node_is_selected_by_its_name():
    workflow = orders()
    assert matched_locations(workflow, "$.nodes[?(@.name == 'Fetch customer')].parameters.url") == [
        ("nodes", 1, "parameters", "url")
    ]


def test_applying_rules_removes_what_they_match_and_leaves_the_input_alone():
    workflow = orders()
    original = copy.deepcopy(workflow)
    stripped = apply_ignore_rules(
        workflow,
        [
            "$.nodes[?@.name == 'Fetch customer'].parameters.url",
            "$.nodes[?@.type == 'n8n-nodes-base.stickyNote']",
            "$.nodes[?@.name == 'Legacy call']",
            "$..cachedResultName",
            "$.settings",
        ],
    )
    assert workflow == original
    assert [n["name"] for n in stripped["nodes"]] == ["Webhook", "Fetch customer", "Invoice"]
    assert "url" not in named(stripped, "Fetch customer")["parameters"]
    assert "cachedResultName" not in named(stripped, "Invoice")["parameters"]["workflowId"]
    assert "settings" not in stripped
    # Untouched parts are shared, not copied.
    assert named(stripped, "Webhook") is named(workflow, "Webhook")


def test_nothing_matched_returns_the_workflow_itself():
    workflow = orders()
    assert apply_ignore_rules(workflow, ["$.nodes[?@.name == 'Nope']"]) is workflow


def test_nested_matches_are_removed_once():
    workflow = {"nodes": [{"name": "A", "parameters": {"x": {"y": 1}}}]}
    assert apply_ignore_rules(workflow, ["$..x", "$..y", "$.nodes[0].parameters"]) == {
        "nodes": [{"name": "A"}]
    }


def test_an_invalid_rule_given_to_apply_raises():
    with pytest.raises(InvalidIgnoreRule, match="must start at the workflow root"):
        apply_ignore_rules(orders(), ["settings"])


def test_a_descendant_rule_too_deep_for_the_library_is_an_error_not_a_silent_miss():
    deep = {"settings": {}}
    cursor = deep["settings"]
    for _ in range(300):
        cursor["n"] = {}
        cursor = cursor["n"]
    with pytest.raises(InvalidIgnoreRule, match="cannot be evaluated on this workflow"):
        apply_ignore_rules(deep, ["$..x"])


def test_the_digest_decides_with_ignored_paths_removed_from_both_sides():
    rule = "$.nodes[?@.name == 'Fetch customer'].parameters.options.timeout"
    slower = edited(
        orders(), lambda w: named(w, "Fetch customer")["parameters"]["options"].update(timeout=1)
    )
    assert semantic_digest(slower) != semantic_digest(orders())
    assert semantic_digest(slower, ignore_rules=[rule]) == semantic_digest(
        orders(), ignore_rules=[rule]
    )
    other = edited(orders(), lambda w: named(w, "Webhook")["parameters"].update(path="x"))
    assert semantic_digest(other, ignore_rules=[rule]) != semantic_digest(
        orders(), ignore_rules=[rule]
    )
