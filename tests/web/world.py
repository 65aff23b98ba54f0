"""One object of every kind a path parameter of the API names, built in one tenant, so a
test can walk every operation of the OpenAPI (across tenants, fuzzing) without listing them.

Every path parameter must be known here: an id (ID_PARAMETERS, the table whose row it names)
or a fixed word (WORDS). operations() fails on any other, so a new endpoint with a new kind
of id gets its builder here before any walk passes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import text

import models
from models.db import get_engine
from services.policy import ACTIONS
from tests.rowgen import RowBuilder

#: Path parameter -> the table whose row it names. Tables referencing environments come
#: first, so env_id names the environment their rows belong to.
ID_PARAMETERS = {
    "override_id": "drift_attestations",
    "approval_id": "drift_approvals",
    "incident_id": "drift_incidents",
    "policy_id": "drift_policies",
    "workflow_id": "workflow_env_map",
    "credential_id": "credentials",
    "execution_id": "executions",
    "snapshot_id": "snapshots",
    "mapping_id": "credential_mappings",
    "deployment_id": "deployments",
    "promotion_id": "promotions",
    "pipeline_id": "pipelines",
    "logical_id": "logical_credentials",
    "canonical_id": "canonical_workflows",
    "env_id": "environments",
    "event_id": "notification_events",
    "job_id": "background_jobs",
    "rule_id": "workflow_ignore_rules",
    "token_id": "api_tokens",
    "type_id": "environment_types",
    "user_id": "users",
    "audit_id": "audit_logs",
}
#: Path parameters that name no object, with a value every tenant may use.
WORDS = {"environment_class": "dev", "action": ACTIONS[0]}

#: A URL every URL field accepts (public, so no address policy refuses it).
URL = "https://n8n.example.com"

_PARAMETER = re.compile(r"\{([^}]+)\}")
_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict = field(repr=False)

    api: dict = field(repr=False)

    @property
    def ids(self) -> list[str]:
        return [name for name in _PARAMETER.findall(self.path) if name in ID_PARAMETERS]

    def example_body(self) -> dict:
        """A body the operation's schema accepts: its required fields (or, with none
        required, its first writable one) with a value of their type."""
        content = self.spec.get("requestBody", {}).get("content", {})
        schema = self._resolve(content.get("application/json", {}).get("schema", {}))
        writable = {
            name: prop
            for name, prop in schema.get("properties", {}).items()
            if not self._resolve(prop).get("readOnly")
        }
        chosen = schema.get("required") or list(writable)[:1]
        return {name: self._example(writable[name]) for name in chosen}

    def example_query(self) -> dict:
        """The operation's required query parameters, each with a value of its type."""
        return {
            parameter["name"]: self._example(parameter.get("schema", {}))
            for parameter in self.spec.get("parameters", ())
            if parameter.get("in") == "query" and parameter.get("required")
        }

    def writable_fields(self) -> set[str]:
        """Every field the operation's body may set."""
        content = self.spec.get("requestBody", {}).get("content", {})
        schema = self._resolve(content.get("application/json", {}).get("schema", {}))
        return {
            name
            for name, prop in schema.get("properties", {}).items()
            if not self._resolve(prop).get("readOnly")
        }

    def _resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.api["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def _example(self, schema: dict):
        schema = self._resolve(schema)
        kind = schema.get("type")
        if "enum" in schema:
            return schema["enum"][0]
        if kind == "object":
            properties = schema.get("properties", {})
            return {name: self._example(properties[name]) for name in schema.get("required", ())}
        if kind == "array":
            return [self._example(schema["items"])] if schema.get("minItems") else []
        scalars = {"boolean": False, "integer": 1, "number": 1}
        if kind in scalars:
            return scalars[kind]
        formats = {"uuid": str(uuid.uuid4()), "email": "someone@example.com", "url": URL}
        value = formats.get(schema.get("format"), "example")
        if pattern := schema.get("pattern"):  # e.g. a commit id: the first candidate it takes
            value = next((v for v in (value, "0" * 40) if re.search(pattern, v)), value)
        return value


def operations(app: Flask) -> Iterator[Operation]:
    """Every operation of the app's OpenAPI; raises on a path parameter nobody builds."""
    spec = app.test_client().get("/openapi.json").json
    for path, item in spec["paths"].items():
        for name in _PARAMETER.findall(path):
            if name not in ID_PARAMETERS and name not in WORDS:
                raise LookupError(
                    f"{path}: no builder for path parameter {name!r}; add it to tests/web/world.py"
                )
        for method in _METHODS:
            if method in item:
                yield Operation(method, path, item[method], spec)


@dataclass
class World:
    """A tenant's objects, one per kind of path parameter."""

    tenant_id: uuid.UUID
    ids: dict[str, uuid.UUID]

    def url(self, path: str) -> str:
        """``path`` with its ids this world's and its words the fixed ones."""
        return _PARAMETER.sub(lambda m: str(self.ids.get(m[1], WORDS.get(m[1]))), path)


def missing_url(path: str) -> str:
    """``path`` with ids no tenant has."""
    return _PARAMETER.sub(
        lambda m: str(uuid.uuid4()) if m[1] in ID_PARAMETERS else WORDS[m[1]], path
    )


def build_world(tenant_id: uuid.UUID, **given: uuid.UUID) -> World:
    """Rows of every kind in ``tenant_id``, inserted as the app role (row-level security
    applies), each through the generic row builder; ``given`` ids (of rows the product
    built, e.g. env_id=...) are used instead, and the other rows point at them."""
    tables = models.Base.metadata.tables
    with get_engine().begin() as conn:
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
        builder = RowBuilder(conn, tenant_id)
        for parameter, row_id in given.items():
            builder.rows[ID_PARAMETERS[parameter]] = [{"id": row_id}]
        ids = {}
        for parameter, table in ID_PARAMETERS.items():
            rows = builder.rows.get(table) or [builder.build(tables[table])]
            ids[parameter] = rows[0]["id"]
    return World(tenant_id, ids)
