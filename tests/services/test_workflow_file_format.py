"""Reading workflow files people may have edited: every problem named by its place, and
nothing but InvalidWorkflowFile ever escapes, whatever the bytes."""

from __future__ import annotations

import json
import random

import pytest

from services.workflow_file import InvalidWorkflowFile, from_n8n, parse, render
from tests.services.workflow_samples import DEV_IDS, damage, orders

GOOD = render(orders(), canonical_id="orders-1", slug="orders", workflow_ref=DEV_IDS.get)


def _content():
    return json.loads(GOOD)


def _errors(data) -> list[str]:
    with pytest.raises(InvalidWorkflowFile) as caught:
        parse(data)
    assert str(caught.value) == "; ".join(str(e) for e in caught.value.errors)
    return [str(e) for e in caught.value.errors]


def _edited(edit) -> bytes:
    content = _content()
    edit(content)
    return json.dumps(content).encode()


def _node(content, name):
    return next(n for n in content["nodes"] if n["name"] == name)


def _set_path(content, value):
    _node(content, "Webhook")["parameters"]["path"] = value


BAD_BYTES = {
    "not utf-8": (b'{"name": "\xff"}', "$: is not UTF-8 (byte 10: b'\\xff')"),
    "json syntax": (b'{\n  "name": "x",\n}', "$: is not valid JSON: Expecting property name"),
    "NaN": (b'{"n8n-ops": NaN}', "$: is not valid JSON: NaN is not a JSON number"),
    "duplicate key": (b'{"name": "a", "name": "b"}', "$: has the key 'name' twice in one object"),
    "not an object": (b"[1, 2]", "$: the file must be a JSON object"),
    "deeply nested": (b"[" * 100000 + b"]" * 100000, "$: is nested too deeply"),
}


@pytest.mark.parametrize(("data", "error"), BAD_BYTES.values(), ids=BAD_BYTES.keys())
def test_unreadable_bytes_are_named(data, error):
    assert _errors(data)[0].startswith(error)


def test_a_json_syntax_error_gives_line_and_column():
    assert _errors(b'{\n  "name": "x",\n}') == [
        "$: is not valid JSON: Expecting property name enclosed in double quotes at line 3 column 1"
    ]


HAND_EDITS = {
    "missing header": (lambda c: c.pop("n8n-ops"), "$: 'n8n-ops' is missing"),
    "newer format": (
        lambda c: c["n8n-ops"].update(format=2),
        "$['n8n-ops'].format: 2 is a newer format than this platform reads",
    ),
    "bad canonical id": (
        lambda c: c["n8n-ops"].update(canonicalId="../etc"),
        "$['n8n-ops'].canonicalId: must be a canonical id",
    ),
    "empty slug": (
        lambda c: c["n8n-ops"].update(slug=""),
        "$['n8n-ops'].slug: must be a non-empty",
    ),
    "header extra": (
        lambda c: c["n8n-ops"].update(owner="me"),
        "$['n8n-ops'].owner: is not a header field",
    ),
    "unknown field": (
        lambda c: c.update(setings={}),
        "$['setings']: is not a field of a workflow file",
    ),
    "instance field": (
        lambda c: c.update(versionId="v3"),
        "$['versionId']: belongs to one n8n instance or its runs",
    ),
    "pinData": (lambda c: c.update(pinData={}), "$['pinData']: belongs to one n8n instance"),
    "active not bool": (lambda c: c.update(active="yes"), "$.active: must be true or false"),
    "tags not list": (lambda c: c.update(tags="billing"), "$.tags: must be a list of tag names"),
    "repeated tag": (lambda c: c.update(tags=["a", "a"]), "$.tags[1]: repeats the tag 'a'"),
    "unknown setting": (
        lambda c: c["settings"].update(timeZone="UTC"),
        "$.settings.timeZone: is not a setting n8n accepts",
    ),
    "errorWorkflow not string": (
        lambda c: c["settings"].update(errorWorkflow=5),
        "$.settings.errorWorkflow: must be a string",
    ),
    "nodes not list": (lambda c: c.update(nodes={}), "$.nodes: must be a list of nodes"),
    "node not object": (lambda c: c["nodes"].append(3), "$.nodes[5]: must be an object"),
    "node id": (
        lambda c: c["nodes"][0].update(id="abc"),
        "$.nodes[0] ('Fetch customer').id: is per instance; the file does not keep it",
    ),
    "webhookId": (
        lambda c: _node(c, "Webhook").update(webhookId="w"),
        "$.nodes[3] ('Webhook').webhookId: is per instance",
    ),
    "unknown node field": (
        lambda c: c["nodes"][0].update(colour="red"),
        "$.nodes[0] ('Fetch customer').colour: is not a node field n8n accepts on write",
    ),
    "node without type": (
        lambda c: c["nodes"][0].pop("type"),
        "$.nodes[0] ('Fetch customer'): 'type' is missing",
    ),
    "typeVersion text": (
        lambda c: c["nodes"][0].update(typeVersion="4"),
        "$.nodes[0] ('Fetch customer').typeVersion: must be a number",
    ),
    "position": (
        lambda c: c["nodes"][0].update(position=[1]),
        "$.nodes[0] ('Fetch customer').position: must be [x, y]",
    ),
    "disabled": (
        lambda c: c["nodes"][0].update(disabled="no"),
        "$.nodes[0] ('Fetch customer').disabled: must be true or false",
    ),
    "parameters": (
        lambda c: c["nodes"][0].update(parameters=[]),
        "$.nodes[0] ('Fetch customer').parameters: must be an object",
    ),
    "credential id": (
        lambda c: c["nodes"][0]["credentials"]["httpHeaderAuth"].update(id="7"),
        "$.nodes[0] ('Fetch customer').credentials.httpHeaderAuth: must be "
        '{"name": "<credential name>"} (ids are per instance)',
    ),
    "credential name empty": (
        lambda c: c["nodes"][0]["credentials"]["httpHeaderAuth"].update(name=" "),
        "$.nodes[0] ('Fetch customer').credentials.httpHeaderAuth.name: must be a non-empty",
    ),
    "duplicate node name": (
        lambda c: c["nodes"][1].update(name="Fetch customer"),
        "$.nodes[1] ('Fetch customer'): has the same name as $.nodes[0]; names are unique",
    ),
    "connection from nowhere": (
        lambda c: c["connections"].update(Ghost={"main": [[]]}),
        "$.connections['Ghost']: comes from 'Ghost', which is not a node of this workflow",
    ),
    "connection to nowhere": (
        lambda c: c["connections"]["Webhook"]["main"][0][0].update(node="Ghost"),
        "$.connections['Webhook'].main[0][0]: goes to 'Ghost', which is not a node",
    ),
    "connection index": (
        lambda c: c["connections"]["Webhook"]["main"][0][0].update(index=-1),
        "$.connections['Webhook'].main[0][0].index: must be an input number",
    ),
    "connection shape": (
        lambda c: c["connections"]["Webhook"].update(main={"0": []}),
        "$.connections['Webhook'].main: must be a list of outputs",
    ),
    "empty canonical reference": (
        lambda c: _node(c, "Legacy call")["parameters"].update(workflowId="canonical:"),
        "$.nodes[2].parameters.workflowId: 'canonical:' names no canonical id",
    ),
}


@pytest.mark.parametrize(("edit", "error"), HAND_EDITS.values(), ids=HAND_EDITS.keys())
def test_each_hand_edit_mistake_is_named_by_its_place(edit, error):
    errors = _errors(_edited(edit))
    assert any(e.startswith(error) for e in errors), errors


def test_every_problem_is_listed_not_only_the_first():
    def edit(c):
        c.update(active=1, tags=[""])
        c["nodes"][0]["typeVersion"] = None

    assert len(_errors(_edited(edit))) == 3


def test_the_file_must_be_the_canonical_workflow_it_is_named_after():
    with pytest.raises(InvalidWorkflowFile, match="is 'orders-1', but the file belongs to 'x'"):
        parse(GOOD, canonical_id="x")


def test_a_hand_formatted_file_is_read_and_normalised():
    content = _content()
    content["nodes"].reverse()
    _set_path(content, "orders")
    hand = json.dumps(content, indent=4, sort_keys=True).encode()
    assert parse(hand) == parse(GOOD)


def test_optional_fields_default_and_trailing_empty_outputs_are_dropped():
    content = _content()
    for key in ("active", "tags", "settings"):
        content.pop(key)
    content["connections"]["Invoice"] = {"main": [[], None]}
    file = parse(json.dumps(content))
    assert (file.active, file.tags, dict(file.settings)) == (False, (), {})
    assert "Invoice" not in file.connections


def test_random_damage_never_escapes_as_anything_but_invalid_workflow_file():
    rng = random.Random(10)
    outcomes = {"valid": 0, "invalid": 0}
    for _ in range(600):
        damaged = _content()
        for _ in range(rng.randint(1, 3)):
            damaged = damage(damaged, rng)
        data = json.dumps(damaged).encode()
        if rng.random() < 0.2:
            cut = rng.randrange(len(data))
            data = data[:cut] + bytes([rng.randrange(256)]) + data[cut + 1 :]
        try:
            parse(data)
            outcomes["valid"] += 1
        except InvalidWorkflowFile as exc:
            assert exc.errors and all(e.path.startswith("$") for e in exc.errors)
            outcomes["invalid"] += 1
    assert outcomes["invalid"] > 300 and outcomes["valid"] > 10


def test_random_damage_to_n8n_json_is_rendered_or_refused_with_reasons():
    rng = random.Random(11)
    refused = 0
    for _ in range(400):
        damaged = orders()
        for _ in range(rng.randint(1, 3)):
            damaged = damage(damaged, rng)
        try:
            from_n8n(damaged, canonical_id="c", slug="s", workflow_ref=DEV_IDS.get)
        except InvalidWorkflowFile:
            refused += 1
    assert 0 < refused < 400
