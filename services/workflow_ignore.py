"""Per-tenant ignore rules: JSONPath queries (RFC 9535) naming parts of a workflow that drift and
promotion must not count, like Argo CD's ignoreDifferences.

A rule addresses the workflow as n8n returns it (``$.settings.timezone``,
``$.nodes[?@.name == 'HTTP Request'].parameters.url``). The digest removes what the rules match
from both sides before hashing; the diff shows the matching differences as ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonpath

#: Longest rule accepted, in characters: a rule is a path, not a program.
MAX_RULE_LENGTH = 500
#: Most rules a tenant may keep.
MAX_RULES = 200

#: Strict RFC 9535: no library extensions, so a rule means the same in any compliant tool.
_ENV = jsonpath.JSONPathEnvironment(strict=True)

#: A location in a workflow: the keys and list indices from the root.
Location = tuple[str | int, ...]


class InvalidIgnoreRule(ValueError):
    """A rule that cannot be used; the message says which one and why."""

    def __init__(self, message: str, *, rule: Any = None, index: int | None = None):
        super().__init__(message)
        self.rule = rule
        self.index = index


def validate_ignore_rules(rules: Any) -> list[str]:
    """Every problem with a list of rules, one precise message each; empty when all are valid."""
    if not isinstance(rules, list | tuple):
        return ["ignore rules must be a list of JSONPath strings"]
    errors = []
    if len(rules) > MAX_RULES:
        errors.append(f"at most {MAX_RULES} ignore rules, got {len(rules)}")
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        try:
            compile_rule(rule, index=index)
        except InvalidIgnoreRule as exc:
            errors.append(str(exc))
            continue
        if rule in seen:
            errors.append(f"rule {index + 1} ({rule!r}) repeats an earlier rule")
        seen.add(rule)
    return errors


def compile_rule(rule: Any, *, index: int | None = None) -> jsonpath.JSONPath:
    """The compiled query of one rule, or InvalidIgnoreRule naming what is wrong."""
    where = f"rule {index + 1} ({rule!r})" if index is not None else f"rule {rule!r}"
    if not isinstance(rule, str):
        raise InvalidIgnoreRule(
            f"{where} must be a string, not {type(rule).__name__}", rule=rule, index=index
        )
    if not rule.strip():
        raise InvalidIgnoreRule(f"{where} is empty", rule=rule, index=index)
    if len(rule) > MAX_RULE_LENGTH:
        raise InvalidIgnoreRule(
            f"{where} is longer than {MAX_RULE_LENGTH} characters", rule=rule, index=index
        )
    try:
        query = _compiled(rule)
    except InvalidIgnoreRule as exc:
        raise InvalidIgnoreRule(f"{where} {exc}", rule=rule, index=index) from None
    return query


@lru_cache(maxsize=1024)
def _compiled(rule: str) -> jsonpath.JSONPath:
    if not rule.startswith("$"):
        raise InvalidIgnoreRule("must start at the workflow root '$', e.g. $.settings.timezone")
    try:
        query = _ENV.compile(rule)
    except jsonpath.JSONPathError as exc:
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        token = getattr(exc, "token", None)
        column = f" at character {token.index + 1}" if token is not None else ""
        raise InvalidIgnoreRule(f"is not valid JSONPath (RFC 9535): {message}{column}") from None
    if not query.segments:
        raise InvalidIgnoreRule("selects the whole workflow; name a part of it")
    return query


def matched_locations(workflow: Mapping[str, Any], rule: str) -> list[Location]:
    """Where one rule matches in ``workflow``, as key/index paths (the root never matches)."""
    query = compile_rule(rule)
    try:
        return [tuple(m.parts) for m in query.finditer(workflow) if m.parts]
    except jsonpath.JSONPathError as exc:
        # A descendant query (``$..x``) into a workflow nested past the library's limit.
        reason = str(exc).splitlines()[0]
        raise InvalidIgnoreRule(
            f"rule {rule!r} cannot be evaluated on this workflow: {reason}", rule=rule
        ) from None


def named_location(workflow: Mapping[str, Any], location: Location) -> Location:
    """A location with a node's index replaced by its name (``("nodes", "Set", ...)``), which
    stays the same when nodes are reordered and is how a diff places its changes."""
    if len(location) >= 2 and location[0] == "nodes" and isinstance(location[1], int):
        node = (workflow.get("nodes") or [])[location[1]]
        if isinstance(node, Mapping) and isinstance(node.get("name"), str):
            return ("nodes", node["name"], *location[2:])
    return location


@dataclass(frozen=True)
class Stripped:
    """A workflow without what the rules match, and where each rule matched (node indices
    replaced by node names), so each rule is evaluated once per workflow."""

    workflow: Mapping[str, Any]
    #: (rule, named locations it matched), in the order of the rules.
    matches: tuple[tuple[str, tuple[Location, ...]], ...]


def strip_ignored(workflow: Mapping[str, Any], rules: Iterable[str]) -> Stripped:
    """Remove what any rule matches (a removed list item closes its gap).

    The stripped workflow is ``workflow`` itself when nothing matches; otherwise a copy that
    shares every container the removal does not touch, so the input is never changed.
    """
    per_rule = [(rule, matched_locations(workflow, rule)) for rule in rules]
    locations = {loc for _, found in per_rule for loc in found}
    stripped = _without(workflow, _outermost(locations)) if locations else workflow
    return Stripped(
        stripped,
        tuple(
            (rule, tuple(named_location(workflow, loc) for loc in found))
            for rule, found in per_rule
        ),
    )


def apply_ignore_rules(workflow: Mapping[str, Any], rules: Iterable[str]) -> Mapping[str, Any]:
    """``workflow`` without what any rule matches (see ``strip_ignored``)."""
    return strip_ignored(workflow, rules).workflow


def covering_rule(location: Location, *sides: Stripped) -> str | None:
    """The first rule that matched ``location``, or a place containing it, in any side."""
    for per_side in zip(*(side.matches for side in sides), strict=True):
        for rule, locations in per_side:
            if any(location[: len(m)] == m for m in locations):
                return rule
    return None


def _outermost(locations: set[Location]) -> list[Location]:
    """Drop locations inside another removed one: removing the outer removes them too."""
    kept: list[Location] = []
    for loc in sorted(locations, key=len):
        if not any(loc[: len(outer)] == outer for outer in kept):
            kept.append(loc)
    return kept


def _without(value: Any, locations: Sequence[Location]) -> Any:
    """Copy ``value`` along the given paths only, deleting each path's last step."""
    here = {loc[0] for loc in locations if len(loc) == 1}
    deeper: dict[str | int, list[Location]] = {}
    for loc in locations:
        if len(loc) > 1:
            deeper.setdefault(loc[0], []).append(loc[1:])
    if isinstance(value, Mapping):
        return {
            key: _without(item, deeper[key]) if key in deeper else item
            for key, item in value.items()
            if key not in here
        }
    return [
        _without(item, deeper[index]) if index in deeper else item
        for index, item in enumerate(value)
        if index not in here
    ]
