"""Workflow digests: ``exact`` (did the stored payload change) and ``semantic`` (does it behave
the same), as sha256 of canonical JSON. See n8n-api.md, "Comparing workflows across environments".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.n8n.payload import workflow_write_body
from services.workflow_ignore import apply_ignore_rules

#: Maps a node's credential reference to a logical key: (credential type, {"id", "name"}) -> key.
CredentialKey = Callable[[str, Mapping[str, Any]], str]
#: Maps an instance's workflow id to the canonical one shared by every environment; None when
#: the id has no canonical workflow, which leaves the id as it is.
WorkflowRef = Callable[[str], str | None]


@dataclass(frozen=True)
class ReferenceSite:
    """Where a workflow names another workflow: a calling node's parameter, or a setting."""

    #: The calling node's name; None for a setting.
    node: str | None
    #: ``parameters.workflowId``, ``settings.errorWorkflow`` or ``settings.callerIds``.
    path: str


#: Rewrites one workflow id found at a site: (id, site) -> new id.
ReferenceRewrite = Callable[[str, ReferenceSite], str]

STICKY_NOTE_TYPE = "n8n-nodes-base.stickyNote"

#: Node types whose ``parameters.workflowId`` names another workflow of the same instance.
WORKFLOW_CALLER_TYPES = frozenset(
    {"n8n-nodes-base.executeWorkflow", "@n8n/n8n-nodes-langchain.toolWorkflow"}
)

#: Node fields that change what a node does, with n8n's value when the field is absent.
#: Everything else (id, position, webhookId, notes, color...) is per instance or cosmetic.
NODE_BEHAVIOUR_DEFAULTS: Mapping[str, Any] = {
    "type": None,
    "typeVersion": None,
    "parameters": {},
    "disabled": False,
    "onError": "stopWorkflow",
    "continueOnFail": False,
    "retryOnFail": False,
    "maxTries": 3,
    "waitBetweenTries": 1000,
    "alwaysOutputData": False,
    "executeOnce": False,
}

#: Workflow settings that change behaviour, with the value n8n's editor shows when absent.
#: Keys GET returns but a write rejects (``availableInMCP``, ``binaryMode``...) cannot be
#: promoted, so they do not count.
SETTINGS_DEFAULTS: Mapping[str, Any] = {
    "saveExecutionProgress": "DEFAULT",
    "saveManualExecutions": "DEFAULT",
    "saveDataErrorExecution": "DEFAULT",
    "saveDataSuccessExecution": "DEFAULT",
    "executionTimeout": -1,
    "errorWorkflow": "DEFAULT",
    "timezone": "DEFAULT",
    "executionOrder": "v0",
    "callerPolicy": "workflowsFromSameOwner",
    "callerIds": "",
}


#: How a promotion names the empty credential it creates for a reference the target cannot
#: resolve (services/promotions/placeholders.py): "<name> (placeholder from n8n-ops)".
PLACEHOLDER_SUFFIX = " (placeholder from n8n-ops)"


def default_credential_key(cred_type: str, ref: Mapping[str, Any]) -> str:
    """Type plus name: what identifies a credential when no mapping is known. A placeholder
    stands for the credential it is named after: a workflow deployed with one is as approved
    (no drift), and the operator filling it in changes nothing the digest sees."""
    return f"{cred_type}:{str(ref.get('name', '')).removesuffix(PLACEHOLDER_SUFFIX)}"


def canonical_json(value: Any) -> bytes:
    """Keys sorted at every level, compact separators, UTF-8; integral floats as integers."""
    return json.dumps(
        _normalize_numbers(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def digest(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def exact_form(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """The writable payload (name, nodes, connections, settings), nodes sorted by name."""
    body = workflow_write_body(workflow)
    body.pop("staticData", None)
    body["nodes"] = _sorted_nodes(body["nodes"])
    return body


def exact_digest(workflow: Mapping[str, Any]) -> str:
    """Digest of what a write stores: changes with any edit, ids and positions included."""
    return digest(exact_form(workflow))


def semantic_form(
    workflow: Mapping[str, Any],
    *,
    credential_key: CredentialKey | None = None,
    workflow_ref: WorkflowRef | None = None,
    ignore_rules: Iterable[str] = (),
) -> dict[str, Any]:
    """What the workflow does, free of per-instance ids, layout and runtime data.

    ``ignore_rules`` (JSONPath, services.workflow_ignore) are removed first, as the tenant
    asked; then workflow references are mapped through ``workflow_ref``.
    """
    if ignore_rules:
        workflow = apply_ignore_rules(workflow, ignore_rules)
    if workflow_ref is not None:
        ref = workflow_ref
        workflow = rewrite_workflow_references(workflow, lambda wid, _site: ref(wid) or wid)
    nodes = [
        semantic_node(node, credential_key)
        for node in list_or_empty(workflow.get("nodes"))
        if isinstance(node, Mapping) and not is_sticky_note(node)
    ]
    return {
        "name": workflow.get("name"),
        "nodes": _sorted_nodes(nodes),
        "connections": normalized_connections(workflow.get("connections")),
        "settings": semantic_settings(mapping_or_empty(workflow.get("settings"))),
    }


def semantic_digest(
    workflow: Mapping[str, Any],
    *,
    credential_key: CredentialKey | None = None,
    workflow_ref: WorkflowRef | None = None,
    ignore_rules: Iterable[str] = (),
) -> str:
    """Digest equal across environments when the workflows behave the same."""
    return digest(
        semantic_form(
            workflow,
            credential_key=credential_key,
            workflow_ref=workflow_ref,
            ignore_rules=ignore_rules,
        )
    )


def tag_names(workflow: Mapping[str, Any]) -> list[str]:
    """Tags compare by name (ids are per instance), separately from the digests."""
    tags = workflow.get("tags")
    if not isinstance(tags, list):
        return []
    return sorted(
        {t["name"] for t in tags if isinstance(t, Mapping) and isinstance(t.get("name"), str)}
    )


def is_sticky_note(node: Mapping[str, Any]) -> bool:
    """Sticky notes are documentation on the canvas: cosmetic, never behaviour."""
    return node.get("type") == STICKY_NOTE_TYPE


def calls_workflows(node: Any) -> bool:
    """An Execute Workflow or toolWorkflow node, whose ``parameters.workflowId`` names one."""
    return isinstance(node, Mapping) and str(node.get("type")) in WORKFLOW_CALLER_TYPES


def is_expression(value: Any) -> bool:
    """n8n evaluates a parameter string that starts with ``=`` (``={{ $json.id }}``)."""
    return isinstance(value, str) and value.startswith("=")


def semantic_node(
    node: Mapping[str, Any], credential_key: CredentialKey | None = None
) -> dict[str, Any]:
    """A node's behaviour: its name, the behaviour fields that differ from n8n's defaults, and
    its credentials as logical keys (type + name unless ``credential_key`` says otherwise)."""
    cred_key = credential_key or default_credential_key
    out: dict[str, Any] = {"name": node.get("name")}
    for field, default in NODE_BEHAVIOUR_DEFAULTS.items():
        value = node.get(field)
        if value is not None and value != default:
            out[field] = value
    locator = mapping_or_empty(out.get("parameters")).get("workflowId")
    if calls_workflows(node) and isinstance(locator, Mapping):
        # cachedResultName/cachedResultUrl only cache the target's name and per-instance URL.
        parameters = dict(out["parameters"])
        parameters["workflowId"] = {
            k: v for k, v in locator.items() if not k.startswith("cachedResult")
        }
        out["parameters"] = parameters
    credentials = mapping_or_empty(node.get("credentials"))
    if credentials:
        out["credentials"] = {
            cred_type: cred_key(cred_type, cred if isinstance(cred, Mapping) else {"name": cred})
            for cred_type, cred in credentials.items()
        }
    return out


def rewrite_workflow_references(
    workflow: Mapping[str, Any], rewrite: ReferenceRewrite
) -> dict[str, Any]:
    """A copy of ``workflow`` with every reference to another workflow passed through
    ``rewrite``: Execute Workflow / toolWorkflow ``parameters.workflowId`` (a string or a
    resource locator), ``settings.errorWorkflow`` and each id of ``settings.callerIds``.
    Expressions, empty values and ``DEFAULT`` are not references and stay as they are.
    Only the containers on the way to a reference are copied."""
    out = dict(workflow)
    if isinstance(workflow.get("nodes"), list):
        out["nodes"] = [_rewrite_caller(node, rewrite) for node in workflow["nodes"]]
    settings = workflow.get("settings")
    if isinstance(settings, Mapping):
        settings = dict(settings)
        error_workflow = settings.get("errorWorkflow")
        if _is_reference(error_workflow):
            site = ReferenceSite(None, "settings.errorWorkflow")
            settings["errorWorkflow"] = rewrite(error_workflow, site)
        caller_ids = settings.get("callerIds")
        if isinstance(caller_ids, str) and caller_ids.strip():
            site = ReferenceSite(None, "settings.callerIds")
            ids = (i.strip() for i in caller_ids.split(","))
            settings["callerIds"] = ",".join(rewrite(i, site) for i in ids if i)
        out["settings"] = settings
    return out


def _rewrite_caller(node: Any, rewrite: ReferenceRewrite) -> Any:
    if not calls_workflows(node):
        return node
    parameters = node.get("parameters")
    if not isinstance(parameters, Mapping):
        return node
    locator = parameters.get("workflowId")
    site = ReferenceSite(node.get("name"), "parameters.workflowId")
    if _is_reference(locator):
        mapped: Any = rewrite(locator, site)
    elif isinstance(locator, Mapping) and _is_reference(locator.get("value")):
        mapped = {**locator, "value": rewrite(locator["value"], site)}
    else:
        return node
    return {**node, "parameters": {**parameters, "workflowId": mapped}}


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and value not in ("", "DEFAULT") and not is_expression(value)


def semantic_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that change behaviour, without those equal to n8n's default."""
    out: dict[str, Any] = {}
    for key, default in SETTINGS_DEFAULTS.items():
        value = settings.get(key)
        if value is None or value in ("", default):
            continue
        if key == "callerIds" and isinstance(value, str):
            value = ",".join(sorted(i.strip() for i in value.split(",") if i.strip()))
        out[key] = value
    return out


def normalized_connections(connections: Any) -> dict[str, Any]:
    """Drop the empty lists the editor leaves behind after a link is removed; keep order."""
    out: dict[str, Any] = {}
    for source, by_type in mapping_or_empty(connections).items():
        kept: dict[str, Any] = {}
        for conn_type, raw_outputs in mapping_or_empty(by_type).items():
            outputs = [o if isinstance(o, list) else [] for o in list_or_empty(raw_outputs)]
            while outputs and not outputs[-1]:
                outputs.pop()
            if outputs:
                kept[conn_type] = outputs
        if kept:
            out[source] = kept
    return out


def mapping_or_empty(value: Any) -> Mapping[str, Any]:
    """``value`` when it is an object, else empty: a malformed part never raises."""
    return value if isinstance(value, Mapping) else {}


def list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _sorted_nodes(nodes: list[Any]) -> list[Any]:
    names = [str(n.get("name")) for n in nodes]
    if len(set(names)) == len(names):
        return sorted(nodes, key=lambda n: str(n.get("name")))
    # Node names are unique in n8n; should two clash anyway, the order is still fixed.
    return sorted(nodes, key=lambda n: (str(n.get("name")), canonical_json(n)))


def _normalize_numbers(value: Any) -> Any:
    # JavaScript has one number type: 2 and 2.0 are the same value in n8n.
    # Exact type checks first: this walks every value of every workflow a sync digests, and
    # isinstance against the Mapping ABC costs several times more.
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is dict or isinstance(value, Mapping):
        return {k: _normalize_numbers(v) for k, v in value.items()}
    if kind is list or isinstance(value, list | tuple):
        return [_normalize_numbers(v) for v in value]
    return value


_SCALARS = frozenset({str, int, bool, type(None)})
