"""Workflow write validation with the messages n8n 1.123's OpenAPI layer sends (first only)."""

from __future__ import annotations

from typing import Any

from tests.fake_n8n.paging import ApiError

#: Top-level properties of the workflow schema, in schema order (read-only ones included).
WORKFLOW_PROPERTIES = (
    "id",
    "name",
    "active",
    "createdAt",
    "updatedAt",
    "nodes",
    "connections",
    "settings",
    "staticData",
    "tags",
    "shared",
    "activeVersion",
)
REQUIRED = ("name", "nodes", "connections", "settings")
READ_ONLY = frozenset({"id", "active", "createdAt", "updatedAt", "tags"})

NODE_PROPERTIES = frozenset(
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
        "createdAt",
        "updatedAt",
    }
)
NODE_READ_ONLY = ("createdAt", "updatedAt")

_CALLER_POLICIES = ("any", "none", "workflowsFromAList", "workflowsFromSameOwner")
_SAVE_DATA = ("all", "none")
#: Settings 1.123 accepts, with their schema type (a tuple is an enum).
SETTINGS_SCHEMA: dict[str, Any] = {
    "saveExecutionProgress": bool,
    "saveManualExecutions": bool,
    "saveDataErrorExecution": _SAVE_DATA,
    "saveDataSuccessExecution": _SAVE_DATA,
    "executionTimeout": float,
    "errorWorkflow": str,
    "timezone": str,
    "executionOrder": str,
    "callerPolicy": _CALLER_POLICIES,
    "callerIds": str,
    "timeSavedPerExecution": float,
    "availableInMCP": bool,
}
_TYPE_NAMES = {bool: "boolean", float: "number", str: "string"}


def validate_workflow_body(body: Any) -> None:
    """Raise the 400 n8n would send for the first violation, in its checking order."""
    if not isinstance(body, dict):
        raise ApiError(400, "request/body must be object")
    for field in REQUIRED:
        if field not in body:
            raise ApiError(400, f"request/body must have required property '{field}'")
    if any(key not in WORKFLOW_PROPERTIES for key in body):
        raise ApiError(400, "request/body must NOT have additional properties")
    for field in WORKFLOW_PROPERTIES:
        if field in body:
            _check_property(field, body[field])


def _check_property(field: str, value: Any) -> None:
    if field in READ_ONLY:
        raise ApiError(400, f"request/body/{field} is read-only")
    if field == "activeVersion":
        raise ApiError(400, 'request/body/activeVersion must pass "readOnly" keyword validation')
    if field == "shared":
        first = value[0] if isinstance(value, list) and value else {}
        if isinstance(first, dict) and "id" in (first.get("project") or {}):
            raise ApiError(400, "request/body/shared/0/project/id is read-only")
    if field == "nodes":
        _check_nodes(value)
    if field == "settings":
        _check_settings(value)


def _check_nodes(nodes: Any) -> None:
    if not isinstance(nodes, list):
        raise ApiError(400, "request/body/nodes must be array")
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise ApiError(400, f"request/body/nodes/{i} must be object")
        if any(key not in NODE_PROPERTIES for key in node):
            raise ApiError(400, f"request/body/nodes/{i} must NOT have additional properties")
        for field in NODE_READ_ONLY:
            if field in node:
                raise ApiError(400, f"request/body/nodes/{i}/{field} is read-only")


def _check_settings(settings: Any) -> None:
    if not isinstance(settings, dict):
        raise ApiError(400, "request/body/settings must be object")
    if any(key not in SETTINGS_SCHEMA for key in settings):
        raise ApiError(400, "request/body/settings must NOT have additional properties")
    for key, value in settings.items():
        expected = SETTINGS_SCHEMA[key]
        where = f"request/body/settings/{key}"
        if isinstance(expected, tuple):
            if value not in expected:
                allowed = ", ".join(expected)
                raise ApiError(
                    400, f"{where} must be equal to one of the allowed values: {allowed}"
                )
        elif not _has_type(value, expected):
            raise ApiError(400, f"{where} must be {_TYPE_NAMES[expected]}")


def _has_type(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, expected)
