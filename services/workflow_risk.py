"""The risk level of a workflow change (system.md §4.3 "Risk level"), with its reasons.

- high: a credential changes; an expression (``={{ ... }}``) changes; a trigger, HTTP, code or
  routing node (If, Switch, Merge..., and calls of other workflows) is added, removed or
  changed in behaviour;
- medium: error handling (a node's onError/retry fields, the error workflow), settings, a
  node's type or version, other parameters or flags of a node, links between nodes that stay;
- low: renames (of the workflow or a node), plain nodes added or removed with their links, and
  changes the digest leaves out (cosmetic) or the tenant ignores, which never count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.workflow_digest import WORKFLOW_CALLER_TYPES, is_expression

if TYPE_CHECKING:
    from services.workflow_compare import Change

LEVELS = ("low", "medium", "high")

#: Node types that start a workflow without "Trigger" in their name.
TRIGGER_TYPES = frozenset(
    {
        "n8n-nodes-base.webhook",
        "n8n-nodes-base.cron",
        "n8n-nodes-base.interval",
        "n8n-nodes-base.start",
        "n8n-nodes-base.emailReadImap",
    }
)
HTTP_TYPES = frozenset(
    {
        "n8n-nodes-base.httpRequest",
        "n8n-nodes-base.graphql",
        "n8n-nodes-base.respondToWebhook",
        "@n8n/n8n-nodes-langchain.toolHttpRequest",
    }
)
CODE_TYPES = frozenset(
    {
        "n8n-nodes-base.code",
        "n8n-nodes-base.function",
        "n8n-nodes-base.functionItem",
        "n8n-nodes-base.executeCommand",
        "n8n-nodes-base.aiTransform",
        "@n8n/n8n-nodes-langchain.code",
        "@n8n/n8n-nodes-langchain.toolCode",
    }
)
ROUTING_TYPES = (
    frozenset(
        {
            "n8n-nodes-base.if",
            "n8n-nodes-base.switch",
            "n8n-nodes-base.filter",
            "n8n-nodes-base.merge",
            "n8n-nodes-base.splitInBatches",
            "n8n-nodes-base.compareDatasets",
            "n8n-nodes-base.stopAndError",
        }
    )
    | WORKFLOW_CALLER_TYPES
)
#: Node fields that say what happens when the node fails.
ERROR_HANDLING_FIELDS = frozenset(
    {"onError", "continueOnFail", "retryOnFail", "maxTries", "waitBetweenTries"}
)


@dataclass(frozen=True)
class RiskReason:
    level: str
    #: credential, expression, trigger, http, code, routing, error_handling, settings,
    #: node_type, parameters, node_flags, wiring, rename, node_added, node_removed, unchanged.
    code: str
    message: str
    node: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "code": self.code, "message": self.message, "node": self.node}


@dataclass(frozen=True)
class Risk:
    level: str
    reasons: tuple[RiskReason, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "reasons": [r.as_dict() for r in self.reasons]}


def node_class(node_type: Any) -> str | None:
    """trigger, http, code or routing for the node types that make a change high-risk."""
    if not isinstance(node_type, str):
        return None
    if node_type in TRIGGER_TYPES or node_type.lower().endswith("trigger"):
        return "trigger"
    for name, types in (("http", HTTP_TYPES), ("code", CODE_TYPES), ("routing", ROUTING_TYPES)):
        if node_type in types:
            return name
    return None


def assess(changes: Sequence[Change]) -> Risk:
    """The level of a diff's behaviour changes (cosmetic and ignored ones are not passed)."""
    whole = {c.node for c in changes if c.section == "node" and not c.path}
    reasons: dict[tuple[str, str, str | None], RiskReason] = {}
    for change in changes:
        for reason in _reasons(change, whole):
            reasons.setdefault((reason.code, reason.message, reason.node), reason)
    if not reasons:
        none = RiskReason("low", "unchanged", "no change in behaviour")
        return Risk("low", (none,))
    ordered = sorted(reasons.values(), key=lambda r: -LEVELS.index(r.level))
    return Risk(ordered[0].level, tuple(ordered))


def _reasons(change: Change, whole: set[str | None]) -> Iterable[RiskReason]:
    node = change.node
    if change.section == "workflow":
        yield RiskReason("low", "rename", "the workflow is renamed")
    elif change.section == "credential":
        yield RiskReason(
            "high", "credential", f"node {node!r} changes its {change.path} credential", node
        )
    elif change.section == "setting":
        if change.path == "errorWorkflow":
            yield RiskReason("medium", "error_handling", "the error workflow changes")
        else:
            yield RiskReason("medium", "settings", f"setting {change.path} changes")
    elif change.section == "connection":
        link = change.before or change.after or {}
        if not {link.get("from"), link.get("to")} & whole:
            yield RiskReason("medium", "wiring", f"links from {node!r} change", node)
    else:
        yield from _node_reasons(change)


def _node_reasons(change: Change) -> Iterable[RiskReason]:
    node, kind = change.node, node_class(change.node_type)
    if change.path == "type":  # a node of a high-risk type replaced by a plain one
        kind = kind or node_class(change.before)
    if change.action == "renamed":
        yield RiskReason("low", "rename", f"node {change.before!r} is renamed {node!r}", node)
        return
    if not change.path:
        if kind:
            yield RiskReason("high", kind, f"{kind} node {node!r} is {change.action}", node)
        else:
            yield RiskReason(
                "low", f"node_{change.action}", f"node {node!r} is {change.action}", node
            )
        return
    field = change.path.split(".", 1)[0].split("[", 1)[0]
    expression = field == "parameters" and (
        _has_expression(change.before) or _has_expression(change.after)
    )
    if kind:
        yield RiskReason("high", kind, f"{kind} node {node!r} changes", node)
    if expression:
        yield RiskReason("high", "expression", f"an expression of node {node!r} changes", node)
    if kind or expression:
        return
    if field == "parameters":
        yield RiskReason("medium", "parameters", f"parameters of node {node!r} change", node)
    elif field in ERROR_HANDLING_FIELDS:
        yield RiskReason("medium", "error_handling", f"error handling of {node!r} changes", node)
    elif field in ("type", "typeVersion"):
        yield RiskReason("medium", "node_type", f"the type or version of {node!r} changes", node)
    else:
        yield RiskReason("medium", "node_flags", f"{field} of node {node!r} changes", node)


def _has_expression(value: Any) -> bool:
    if isinstance(value, str):
        return is_expression(value) and "{{" in value
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return False
