"""JSON differences and the paths that name them: ``deep_diff`` between two JSON values,
``path_text`` for people (``parameters.assignments[0].value``), ``json_path`` for rules
(``$.nodes[?@.name == 'Set'].parameters.url``)."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: A place in a JSON document: keys and list indices from the root.
Path = tuple[str | int, ...]


def deep_diff(
    before: Any, after: Any, path: tuple[str | int, ...] = ()
) -> Iterable[tuple[str, tuple[str | int, ...], Any, Any]]:
    """(action, path, before, after) for each difference between two JSON values. Lists are
    aligned (difflib) so an inserted item is one addition, not a shift of all that follow."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after), key=str):
            if key not in before:
                yield "added", (*path, key), None, after[key]
            elif key not in after:
                yield "removed", (*path, key), before[key], None
            elif before[key] != after[key]:
                yield from deep_diff(before[key], after[key], (*path, key))
    elif isinstance(before, list) and isinstance(after, list):
        yield from _list_diff(before, after, path)
    elif before != after:
        yield "changed", path, before, after


def _list_diff(
    before: list[Any], after: list[Any], path: tuple[str | int, ...]
) -> Iterable[tuple[str, tuple[str | int, ...], Any, Any]]:
    matcher = difflib.SequenceMatcher(
        None, [_fingerprint(v) for v in before], [_fingerprint(v) for v in after], autojunk=False
    )
    for op, b0, b1, a0, a1 in matcher.get_opcodes():
        if op == "equal":
            continue
        common = min(b1 - b0, a1 - a0)
        for k in range(common):
            yield from deep_diff(before[b0 + k], after[a0 + k], (*path, a0 + k))
        for k in range(b0 + common, b1):
            yield "removed", (*path, k), before[k], None
        for k in range(a0 + common, a1):
            yield "added", (*path, k), None, after[k]


def _fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def value_at(value: Any, path: Sequence[str | int]) -> Any:
    """The value at ``path``, or a marker when it is absent."""
    for step in path:
        in_mapping = isinstance(value, Mapping) and step in value
        in_list = isinstance(value, list) and isinstance(step, int) and step < len(value)
        if not (in_mapping or in_list):
            return ABSENT
        value = value[step]
    return value


ABSENT = object()
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def path_text(path: Iterable[str | int]) -> str:
    """``parameters.assignments[0].value``; keys that are not identifiers as ``['a key']``."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        elif _IDENTIFIER.fullmatch(step):
            text += f".{step}" if text else step
        else:
            text += f"[{_quoted(step)}]"
    return text


def json_path(location: Sequence[str | int]) -> str:
    """The JSONPath of a location, a node selected by its name: an ignore rule for it."""
    if len(location) >= 2 and location[0] == "nodes":
        head = f"$.nodes[?@.name == {_quoted(str(location[1]))}]"
        rest = path_text(location[2:])
        return head + (f".{rest}" if rest and not rest.startswith("[") else rest)
    rest = path_text(location)
    return "$" + (f".{rest}" if rest and not rest.startswith("[") else rest)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
