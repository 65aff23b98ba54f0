"""A structured workflow diff (services/workflow_diff.py, as the API returns it) laid out for a
page: changes grouped by section, each with its before and after as text for two columns.
Any page showing a diff (a canonical workflow's versions, a promotion's) renders it with the
``diff_view`` macro of _diff.html."""

from __future__ import annotations

import json
from typing import Any

#: Sections in the order a page shows them, with their headings.
SECTIONS = (
    ("workflow", "Workflow"),
    ("node", "Nodes"),
    ("credential", "Credentials"),
    ("connection", "Connections"),
    ("setting", "Settings"),
)
#: What each action is called on the page: the text marker that says it without colour.
ACTIONS = {
    "added": "Added",
    "removed": "Removed",
    "changed": "Changed",
    "renamed": "Renamed",
    "reordered": "Reordered",
}


def text(value: Any) -> str:
    """A value as a person reads it: strings as they are, anything else as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _row(change: dict[str, Any]) -> dict[str, Any]:
    before, after = change.get("before"), change.get("after")
    if change["section"] == "connection":
        link = f"{change.get('node')} {change.get('path')}"
        before = link if change["action"] == "removed" else None
        after = link if change["action"] == "added" else None
    where = " · ".join(p for p in (change.get("node"), change.get("path")) if p)
    return {
        **change,
        "label": ACTIONS.get(change["action"], change["action"]),
        "where": where or change["section"],
        "before_text": text(before),
        "after_text": text(after),
    }


def present(diff: dict[str, Any]) -> dict[str, Any]:
    """``diff`` with its changes grouped: sections [(key, heading, rows)] in page order, and
    the cosmetic and ignored changes as rows of their own."""
    sections = [
        (key, heading, [_row(c) for c in diff["changes"] if c["section"] == key])
        for key, heading in SECTIONS
    ]
    return {
        **diff,
        "sections": [s for s in sections if s[2]],
        "cosmetic_rows": [_row(c) for c in diff.get("cosmetic", ())],
        "ignored_rows": [_row(c) for c in diff.get("ignored", ())],
    }
