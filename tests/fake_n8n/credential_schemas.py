"""Credential types the fake knows, with the data schema n8n 1.123 serves for each
(``GET /credentials/schema/{type}``: its ``toJsonSchema`` of the type's visible properties),
and the check ``POST /credentials`` makes of ``data`` against it (n8n runs the ``jsonschema``
package with nested errors and joins every message behind ``request.body.data``).

n8n's schemas use a small part of JSON Schema: property types (unknown ones, such as
``notice``, accept anything), enums of option fields, ``required``, and for a field shown by
another's value an ``allOf`` of ``if``/``then``/``else`` blocks: required when shown, refused
when hidden. A block's ``if`` holds vacuously when the controlling field is absent, so such a
field is then required: an empty ``data`` is not always valid."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fake_n8n.paging import ApiError

_STRING, _BOOLEAN, _NUMBER = {"type": "string"}, {"type": "boolean"}, {"type": "number"}

CREDENTIAL_SCHEMAS: dict[str, dict[str, Any]] = {
    # As measured on 1.123.81 (n8n-samples/facts-1.123.81.json).
    "httpHeaderAuth": {
        "additionalProperties": False,
        "type": "object",
        "properties": {"name": _STRING, "value": _STRING, "useCustomAuth": {"type": "notice"}},
        "required": [],
    },
    # A required field.
    "slackApi": {
        "additionalProperties": False,
        "type": "object",
        "properties": {
            "accessToken": _STRING,
            "signatureSecret": _STRING,
            "notice": {"type": "notice"},
        },
        "required": ["accessToken"],
    },
    # A field shown by another's value (disableStartTls only when secure is false).
    "smtp": {
        "additionalProperties": False,
        "type": "object",
        "properties": {
            "user": _STRING,
            "password": _STRING,
            "host": _STRING,
            "port": _NUMBER,
            "secure": _BOOLEAN,
            "disableStartTls": _BOOLEAN,
            "hostName": _STRING,
        },
        "allOf": [
            {
                "if": {"properties": {"secure": {"enum": [False]}}},
                "then": {"allOf": [{"required": ["disableStartTls"]}]},
                "else": {"allOf": [{"not": {"required": ["disableStartTls"]}}]},
            }
        ],
        "required": [],
    },
}

_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def check_credential_data(cred_type: str, data: Any) -> None:
    """Raise the 400 n8n sends for ``data`` that its type's schema refuses."""
    errors = schema_errors(CREDENTIAL_SCHEMAS[cred_type], data)
    if errors:
        raise ApiError(400, ",".join(f"request.body.data {error}" for error in errors))


def schema_errors(schema: Mapping[str, Any], value: Any) -> list[str]:
    """Every message the jsonschema package gives for ``value`` (the keywords n8n uses)."""
    kind = schema.get("type")
    if isinstance(kind, str) and not _TYPES.get(kind, lambda _v: True)(value):
        return [f"is not of a type(s) {kind}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"is not one of enum values: {','.join(map(str, schema['enum']))}")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(properties[key], item)
            elif schema.get("additionalProperties") is False:
                errors.append(f'is not allowed to have the additional property "{key}"')
        errors += [f'requires property "{k}"' for k in schema.get("required", ()) if k not in value]
    for n, sub in enumerate(schema.get("allOf") or ()):
        nested = schema_errors(sub, value)
        if nested:
            errors += [f"does not match allOf schema [subschema {n}] with {len(nested)} error[s]:"]
            errors += nested
    if "not" in schema and not schema_errors(schema["not"], value):
        errors.append("is of prohibited type [object Object]")
    if "if" in schema:
        branch = "else" if schema_errors(schema["if"], value) else "then"
        nested = schema_errors(schema[branch], value) if branch in schema else []
        if nested:
            errors += [f'does not match "{branch}" schema', *nested]
    return errors
