"""Node matching and JSON differences, the building blocks of diffs and deploys."""

from __future__ import annotations

from services.workflow_compare import match_nodes
from services.workflow_paths import deep_diff, json_path, path_text


def _node(name, node_type="t", node_id=None, parameters=None, position=(0, 0)):
    node = {"name": name, "type": node_type, "parameters": parameters or {}}
    node["position"] = list(position)
    if node_id:
        node["id"] = node_id
    return node


def _names(pairs):
    return [(b["name"], a["name"]) for b, a in pairs]


def test_nodes_pair_by_id_before_name():
    before = [_node("A", node_id="1"), _node("B", node_id="2")]
    after = [_node("B", node_id="1"), _node("C", node_id="2")]  # A renamed B, B renamed C
    pairs, removed, added = match_nodes(before, after)
    assert (_names(pairs), removed, added) == ([("A", "B"), ("B", "C")], [], [])


def test_without_ids_a_rename_pairs_by_type_and_parameters_then_position():
    before = [
        _node("Same params", parameters={"x": 1}, position=(0, 0)),
        _node("Same place", parameters={"x": 2}, position=(5, 5)),
        _node("Gone", node_type="other", position=(9, 9)),
    ]
    after = [
        _node("Moved", parameters={"x": 1}, position=(7, 7)),
        _node("Edited", parameters={"x": 3}, position=(5, 5)),
        _node("New", node_type="third"),
    ]
    pairs, removed, added = match_nodes(before, after)
    assert _names(pairs) == [("Same params", "Moved"), ("Same place", "Edited")]
    assert [n["name"] for n in removed] == ["Gone"]
    assert [n["name"] for n in added] == ["New"]


def test_empty_parameters_alone_never_make_a_pair():
    before = [_node("A", position=(0, 0))]
    after = [_node("B", position=(1, 1))]
    assert match_nodes(before, after)[0] == []


def test_an_inserted_list_item_is_one_addition_not_a_shift():
    before = {"rules": [{"v": 1}, {"v": 2}, {"v": 3}]}
    after = {"rules": [{"v": 0}, {"v": 1}, {"v": 2}, {"v": 3}]}
    assert list(deep_diff(before, after)) == [("added", ("rules", 0), None, {"v": 0})]


def test_differences_inside_objects_and_replaced_list_items():
    before = {"a": {"b": 1, "gone": True}, "list": [1, 2]}
    after = {"a": {"b": 2, "new": None}, "list": [1, 5]}
    assert list(deep_diff(before, after)) == [
        ("changed", ("a", "b"), 1, 2),
        ("removed", ("a", "gone"), True, None),
        ("added", ("a", "new"), None, None),
        ("changed", ("list", 1), 2, 5),
    ]


def test_paths_for_people_and_for_rules():
    assert path_text(("parameters", "a key", 0, "value")) == "parameters['a key'][0].value"
    assert (
        json_path(("nodes", "It's", "parameters", "url"))
        == "$.nodes[?@.name == 'It\\'s'].parameters.url"
    )
    assert json_path(("settings", "timezone")) == "$.settings.timezone"
    assert json_path(("connections", "Fetch customer", "main", 0)) == (
        "$.connections['Fetch customer'].main[0]"
    )
