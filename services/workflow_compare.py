"""How two versions of a workflow differ, change by change: node matching (also used to keep
a target's node ids on deploy) and the comparison behind services/workflow_diff.py.

Both sides are n8n-shaped workflows in the same terms (references to other workflows as
``canonical:<id>``); behaviour is what the semantic digest counts, anything else it leaves out
is cosmetic.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.workflow_digest import (
    NODE_BEHAVIOUR_DEFAULTS,
    SETTINGS_DEFAULTS,
    CredentialKey,
    calls_workflows,
    is_sticky_note,
    list_or_empty,
    mapping_or_empty,
    normalized_connections,
    semantic_node,
    semantic_settings,
)
from services.workflow_paths import deep_diff, json_path, path_text, value_at

#: Node fields that only change how the canvas looks.
COSMETIC_NODE_FIELDS = ("position", "notes", "notesInFlow")
#: Node fields of one instance: never part of a diff.
PER_INSTANCE_NODE_FIELDS = frozenset({"id", "webhookId", "createdAt", "updatedAt"})
#: Where each section of a diff appears, in order.
SECTIONS = ("workflow", "node", "credential", "connection", "setting")


@dataclass(frozen=True)
class Change:
    """One difference. ``node`` is the node's name (after the change, when it still exists);
    ``path`` says where inside the node (``parameters.url``, ``typeVersion``,
    ``credentials.httpHeaderAuth``), the setting, or the connection."""

    #: workflow, node, credential, connection or setting.
    section: str
    #: added, removed, changed, renamed or reordered.
    action: str
    node: str | None = None
    path: str = ""
    before: Any = None
    after: Any = None
    node_type: str | None = None
    #: Left out of the semantic digest: never makes two versions differ.
    cosmetic: bool = False
    #: The ignore rule that covers this change, for ignored changes.
    ignored_by: str | None = None
    #: Keys (node name in place of its index) from the workflow root, for rules.
    location: tuple[str | int, ...] = field(default=(), compare=False)

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.section, self.node, self.path)

    @property
    def json_path(self) -> str:
        """An ignore rule that covers this change (RFC 9535 JSONPath)."""
        return json_path(self.location)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "section": self.section,
            "action": self.action,
            "node": self.node,
            "node_type": self.node_type,
            "path": self.path,
            "before": self.before,
            "after": self.after,
            "json_path": self.json_path,
        }
        if self.ignored_by is not None:
            out["ignored_by"] = self.ignored_by
        return out


def match_nodes(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]]
) -> tuple[list[tuple[Any, Any]], list[Any], list[Any]]:
    """Pair the nodes of two versions: by node id, then by name, then a renamed node by type
    with equal parameters, then by type and position. Returns (pairs, removed, added), each in
    the order of its input; a node is in one pair at most."""
    left, right = list(before), list(after)
    pairs: dict[int, int] = {}  # index in right -> index in left

    def pair(key: Callable[[Mapping[str, Any]], Any]) -> None:
        taken = set(pairs.values())
        free: dict[Any, int] = {}
        for i, node in enumerate(left):
            k = key(node) if i not in taken else None
            if k is not None:
                free.setdefault(k, i)
        if not free:  # nothing left to pair with: the right side's keys are not needed
            return
        for j, node in enumerate(right):
            k = key(node) if j not in pairs else None
            if k is not None and k in free:
                pairs[j] = free.pop(k)

    pair(lambda n: _text(n.get("id")))
    pair(lambda n: _text(n.get("name")))
    pair(lambda n: _typed(n, "parameters"))
    pair(lambda n: _typed(n, "position"))
    matched = set(pairs.values())
    return (
        [(left[pairs[j]], right[j]) for j in range(len(right)) if j in pairs],
        [node for i, node in enumerate(left) if i not in matched],
        [node for j, node in enumerate(right) if j not in pairs],
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _typed(node: Mapping[str, Any], field: str) -> tuple[str, str] | None:
    """The node's type with one of its fields, or None when either is empty (two nodes with
    no parameters are not the same node)."""
    node_type, value = _text(node.get("type")), node.get(field)
    if not node_type or not value:
        return None
    return node_type, json.dumps(value, sort_keys=True, default=str)


def compare(
    before: Mapping[str, Any], after: Mapping[str, Any], b_key: CredentialKey, a_key: CredentialKey
) -> list[Change]:
    out: list[Change] = []
    if before.get("name") != after.get("name"):
        out.append(
            Change(
                "workflow",
                "changed",
                path="name",
                before=before.get("name"),
                after=after.get("name"),
                location=("name",),
            )
        )
    b_nodes, a_nodes = _nodes(before), _nodes(after)
    pairs, removed, added = match_nodes(b_nodes, a_nodes)
    per_node: list[Change] = []
    for node in removed:
        per_node.append(_whole_node("removed", node))
    for node in added:
        per_node.append(_whole_node("added", node))
    for b_node, a_node in pairs:
        # Most nodes are untouched: one C-level comparison instead of two semantic forms.
        # (It takes JSON true for 1, which n8n never swaps.)
        if b_node != a_node or b_key is not a_key:
            per_node.extend(_node_changes(b_node, a_node, b_key, a_key))
    order = {s: i for i, s in enumerate(SECTIONS)}
    per_node.sort(key=lambda c: (str(c.node), order[c.section]))
    out.extend(per_node)
    renamed = {b.get("name"): a.get("name") for b, a in pairs if b.get("name") != a.get("name")}
    out.extend(_connection_changes(before, after, renamed))
    out.extend(
        _setting_changes(
            mapping_or_empty(before.get("settings")), mapping_or_empty(after.get("settings"))
        )
    )
    return out


def _nodes(workflow: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The nodes a diff can place: objects with a name (n8n never sends others)."""
    return [
        n
        for n in list_or_empty(workflow.get("nodes"))
        if isinstance(n, Mapping) and isinstance(n.get("name"), str)
    ]


def _whole_node(action: str, node: Mapping[str, Any]) -> Change:
    shown = {k: v for k, v in node.items() if k not in PER_INSTANCE_NODE_FIELDS}
    return Change(
        "node",
        action,
        node=node.get("name"),
        before=shown if action == "removed" else None,
        after=shown if action == "added" else None,
        node_type=node.get("type"),
        cosmetic=is_sticky_note(node),
        location=("nodes", node.get("name")),
    )


def _node_changes(
    b_node: Mapping[str, Any], a_node: Mapping[str, Any], b_key: CredentialKey, a_key: CredentialKey
) -> list[Change]:
    name, node_type = a_node.get("name"), a_node.get("type")
    sticky = is_sticky_note(a_node) and is_sticky_note(b_node)
    out: list[Change] = []

    def add(
        action: str, path: Sequence[str | int], before: Any, after: Any, cosmetic: bool
    ) -> None:
        out.append(
            Change(
                "node",
                action,
                node=name,
                path=path_text(path),
                before=before,
                after=after,
                node_type=node_type,
                cosmetic=cosmetic or sticky,
                location=("nodes", name, *path),
            )
        )

    if b_node.get("name") != name:
        out.append(
            Change(
                "node",
                "renamed",
                node=name,
                path="name",
                before=b_node.get("name"),
                after=name,
                node_type=node_type,
                cosmetic=sticky,
                location=("nodes", name, "name"),
            )
        )
    b_sem, a_sem = semantic_node(b_node, b_key), semantic_node(a_node, a_key)
    for key in NODE_BEHAVIOUR_DEFAULTS:
        if key == "parameters":
            for action, path, before, after in deep_diff(
                b_node.get("parameters") or {}, a_node.get("parameters") or {}
            ):
                if path == ("workflowId", "cachedResultUrl") and calls_workflows(a_node):
                    continue  # the called workflow's URL in this instance
                semantic = value_at(b_sem.get("parameters", {}), path) != value_at(
                    a_sem.get("parameters", {}), path
                )
                add(action, ("parameters", *path), before, after, cosmetic=not semantic)
        elif b_sem.get(key) != a_sem.get(key):
            default = NODE_BEHAVIOUR_DEFAULTS[key]
            add("changed", (key,), b_node.get(key, default), a_node.get(key, default), False)
    for key in COSMETIC_NODE_FIELDS:
        if b_node.get(key) != a_node.get(key):
            add(_action(key, b_node, a_node), (key,), b_node.get(key), a_node.get(key), True)
    out.extend(_credential_changes(b_node, a_node, b_sem, a_sem, sticky))
    return out


def _credential_changes(
    b_node: Mapping[str, Any],
    a_node: Mapping[str, Any],
    b_sem: Mapping[str, Any],
    a_sem: Mapping[str, Any],
    sticky: bool,
) -> list[Change]:
    b_creds = mapping_or_empty(b_node.get("credentials"))
    a_creds = mapping_or_empty(a_node.get("credentials"))
    b_keys = mapping_or_empty(b_sem.get("credentials"))
    a_keys = mapping_or_empty(a_sem.get("credentials"))
    out = []
    for cred_type in sorted(set(b_creds) | set(a_creds)):
        before, after = (
            _credential_name(b_creds.get(cred_type)),
            _credential_name(a_creds.get(cred_type)),
        )
        same_key = b_keys.get(cred_type) == a_keys.get(cred_type)
        if same_key and before == after:
            continue
        out.append(
            Change(
                "credential",
                _action(cred_type, b_creds, a_creds),
                node=a_node.get("name"),
                path=f"credentials.{cred_type}",
                before=before,
                after=after,
                node_type=a_node.get("type"),
                cosmetic=same_key or sticky,
                location=("nodes", a_node.get("name"), "credentials", cred_type),
            )
        )
    return out


def _credential_name(ref: Any) -> Any:
    return ref.get("name") if isinstance(ref, Mapping) else ref


def _connection_changes(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    renamed: Mapping[str, str],
) -> list[Change]:
    """Links added and removed, with the before side's names renamed as the nodes were; a
    source whose links are the same but in another order is reordered."""
    b_links = _links(before.get("connections"), renamed)
    a_links = _links(after.get("connections"), renamed={})
    out = []
    for action, links, other in (("removed", b_links, a_links), ("added", a_links, b_links)):
        for link in sorted(set(links) - set(other)):
            out.append(_link_change(action, link))
    if not out and b_links != a_links:
        for source in sorted({link[0] for link in a_links}):
            if [k for k in b_links if k[0] == source] != [k for k in a_links if k[0] == source]:
                out.append(
                    Change(
                        "connection",
                        "reordered",
                        node=source,
                        path=f"{source} outputs",
                        location=("connections", source),
                    )
                )
    return out


#: (source, connection type, output index, target, target input type, input index).
Link = tuple[str, str, int, str, str, int]


def _links(connections: Any, renamed: Mapping[str, str]) -> list[Link]:
    links = []
    for source, by_type in sorted(normalized_connections(connections).items()):
        for conn_type, outputs in sorted(by_type.items()):
            for index, output in enumerate(outputs):
                for target in output:
                    if not _is_target(target):
                        continue
                    links.append(
                        (
                            renamed.get(source, source),
                            conn_type,
                            index,
                            renamed.get(target.get("node"), target.get("node")),
                            target.get("type", conn_type),
                            target.get("index", 0),
                        )
                    )
    return links


def _is_target(target: Any) -> bool:
    return (
        isinstance(target, Mapping)
        and isinstance(target.get("node"), str)
        and isinstance(target.get("type", ""), str)
        and type(target.get("index", 0)) is int
    )


def _link_change(action: str, link: Link) -> Change:
    source, conn_type, output, target, target_type, index = link
    shown = {
        "from": source,
        "type": conn_type,
        "output": output,
        "to": target,
        "input_type": target_type,
        "input": index,
    }
    return Change(
        "connection",
        action,
        node=source,
        path=f"{conn_type}[{output}] -> {target}.{target_type}[{index}]",
        before=shown if action == "removed" else None,
        after=shown if action == "added" else None,
        location=("connections", source, conn_type, output),
    )


def _setting_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """Behaviour settings, missing equal to default. Settings a write rejects (availableInMCP,
    binaryMode...) cannot be deployed, are not in files and are not compared."""
    b_sem, a_sem = semantic_settings(before), semantic_settings(after)
    return [
        Change(
            "setting",
            "changed",
            path=key,
            before=b_sem.get(key, default),
            after=a_sem.get(key, default),
            location=("settings", key),
        )
        for key, default in SETTINGS_DEFAULTS.items()
        if b_sem.get(key) != a_sem.get(key)
    ]


def _action(key: Any, before: Mapping[Any, Any], after: Mapping[Any, Any]) -> str:
    if key not in before:
        return "added"
    return "removed" if key not in after else "changed"
