"""The body n8n accepts on POST/PUT /workflows, built from an allowlist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Settings keys n8n 1.x accepts on write; GET can return more (``binaryMode``,
#: ``availableInMCP``, ``timeSavedMode``) that a write rejects with a 400.
SETTINGS_KEYS_1X = frozenset(
    {
        "saveExecutionProgress",
        "saveManualExecutions",
        "saveDataErrorExecution",
        "saveDataSuccessExecution",
        "executionTimeout",
        "errorWorkflow",
        "timezone",
        "executionOrder",
        "callerPolicy",
        "callerIds",
    }
)


#: Node fields n8n 1.x accepts on write; it rejects any other with "must NOT have additional
#: properties" (``createdAt``/``updatedAt`` are read-only there).
NODE_KEYS_1X = frozenset(
    {
        "id",
        "name",
        "webhookId",
        "disabled",
        "notesInFlow",
        "notes",
        "type",
        "typeVersion",
        "executeOnce",
        "alwaysOutputData",
        "retryOnFail",
        "maxTries",
        "waitBetweenTries",
        "continueOnFail",
        "onError",
        "position",
        "parameters",
        "credentials",
    }
)


def workflow_write_body(
    workflow: Mapping[str, Any],
    *,
    settings_keys: frozenset[str] = SETTINGS_KEYS_1X,
    node_keys: frozenset[str] = NODE_KEYS_1X,
) -> dict[str, Any]:
    """Copy only what a write accepts; ``staticData`` only when the workflow carries one."""
    missing = [f for f in ("name", "nodes", "connections") if f not in workflow]
    if missing:
        raise ValueError(f"A workflow to write needs {', '.join(missing)}")
    settings = workflow.get("settings") or {}
    body: dict[str, Any] = {
        "name": workflow["name"],
        "nodes": [{k: v for k, v in node.items() if k in node_keys} for node in workflow["nodes"]],
        "connections": workflow["connections"],
        "settings": {k: v for k, v in settings.items() if k in settings_keys},
    }
    if workflow.get("staticData") is not None:
        body["staticData"] = workflow["staticData"]
    return body
