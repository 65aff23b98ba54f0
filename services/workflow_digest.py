"""Workflow digests: ``exact`` (did the stored payload change) and ``semantic`` (does it behave
the same), as sha256 of canonical JSON. See n8n-api.md, "Comparing workflows across environments".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from services.n8n.payload import workflow_write_body

#: Maps a node's credential reference to a logical key: (credential type, {"id", "name"}) -> key.
CredentialKey = Callable[[str, Mapping[str, Any]], str]
#: Maps an instance's workflow id to the canonical one shared by every environment.
WorkflowRef = Callable[[str], str]

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


def default_credential_key(cred_type: str, ref: Mapping[str, Any]) -> str:
    """Type plus name: what identifies a credential when no mapping is known."""
    return f"{cred_type}:{ref.get('name', '')}"


def _same_id(workflow_id: str) -> str:
    return workflow_id


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
) -> dict[str, Any]:
    """What the workflow does, free of per-instance ids, layout and runtime data."""
    cred_key = credential_key or default_credential_key
    ref = workflow_ref or _same_id
    nodes = [
        _semantic_node(node, cred_key, ref)
        for node in workflow.get("nodes") or []
        if node.get("type") != STICKY_NOTE_TYPE
    ]
    return {
        "name": workflow.get("name"),
        "nodes": _sorted_nodes(nodes),
        "connections": _semantic_connections(workflow.get("connections") or {}),
        "settings": _semantic_settings(workflow.get("settings") or {}, ref),
    }


def semantic_digest(
    workflow: Mapping[str, Any],
    *,
    credential_key: CredentialKey | None = None,
    workflow_ref: WorkflowRef | None = None,
) -> str:
    """Digest equal across environments when the workflows behave the same."""
    return digest(semantic_form(workflow, credential_key=credential_key, workflow_ref=workflow_ref))


def tag_names(workflow: Mapping[str, Any]) -> list[str]:
    """Tags compare by name (ids are per instance), separately from the digests."""
    return sorted({tag["name"] for tag in workflow.get("tags") or []})


def _semantic_node(
    node: Mapping[str, Any], cred_key: CredentialKey, ref: WorkflowRef
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": node.get("name")}
    for field, default in NODE_BEHAVIOUR_DEFAULTS.items():
        value = node.get(field)
        if value is not None and value != default:
            out[field] = value
    if node.get("type") in WORKFLOW_CALLER_TYPES and "workflowId" in out.get("parameters", {}):
        parameters = dict(out["parameters"])
        parameters["workflowId"] = _map_workflow_locator(parameters["workflowId"], ref)
        out["parameters"] = parameters
    credentials = node.get("credentials") or {}
    if credentials:
        out["credentials"] = {
            cred_type: cred_key(cred_type, cred if isinstance(cred, Mapping) else {"name": cred})
            for cred_type, cred in credentials.items()
        }
    return out


def _map_workflow_locator(locator: Any, ref: WorkflowRef) -> Any:
    """Map a workflow id given as a string or a resource locator ``{"__rl": true, "value"}``."""
    if isinstance(locator, str):
        return locator if _is_expression(locator) else ref(locator)
    if isinstance(locator, Mapping) and isinstance(locator.get("value"), str):
        # cachedResultName/cachedResultUrl only cache the target's name and per-instance URL.
        mapped = {k: v for k, v in locator.items() if not k.startswith("cachedResult")}
        if not _is_expression(locator["value"]):
            mapped["value"] = ref(locator["value"])
        return mapped
    return locator


def _is_expression(value: str) -> bool:
    return value.startswith("=")


def _semantic_settings(settings: Mapping[str, Any], ref: WorkflowRef) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, default in SETTINGS_DEFAULTS.items():
        value = settings.get(key)
        if value is None or value in ("", default):
            continue
        if key == "errorWorkflow":
            value = ref(value)
        elif key == "callerIds":
            value = ",".join(sorted(ref(i.strip()) for i in value.split(",") if i.strip()))
        out[key] = value
    return out


def _semantic_connections(connections: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the empty lists the editor leaves behind after a link is removed; keep order."""
    out: dict[str, Any] = {}
    for source, by_type in connections.items():
        kept: dict[str, Any] = {}
        for conn_type, raw_outputs in (by_type or {}).items():
            outputs = [list(o or []) for o in raw_outputs or []]
            while outputs and not outputs[-1]:
                outputs.pop()
            if outputs:
                kept[conn_type] = outputs
        if kept:
            out[source] = kept
    return out


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
