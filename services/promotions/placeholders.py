"""Placeholder credentials (system.md §4.3, stage policy ``allow_placeholder_credentials``).

A credential reference the target cannot resolve (no logical mapping, no credential of the
same type and name) is written to an empty credential of the same type that the deployment
creates there, named "<name> (placeholder from n8n-ops)". The workflow lands inactive and its
deployment row lists the placeholders: the operator fills them in (in n8n), then activates it.

- Reuse: one placeholder per (environment, type, name), recorded in placeholder_credentials
  as soon as n8n created it; a later promotion reuses it, or one the target's inventory knows
  under the placeholder's name (made before the record existed, or by hand).
- Data: n8n checks ``data`` against the type's schema (GET /credentials/schema/{type}); a
  placeholder's is the least that passes: each field the schema requires, or that a shown
  condition requires, with its type's empty value (an option field: its first option). No
  secret is sent, and names and types are all that is logged or audited.
- Undo: the automatic rollback of a failed deployment deletes the placeholders it created that
  no workflow of the target uses any more (seconds old: nobody filled them in). A manual
  rollback keeps them: an operator may have typed a secret into one by then, the workflows it
  restores no longer point at them, and the next promotion reuses them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.db import db
from models.promotions import PlaceholderCredential
from services import audit, env_links
from services.n8n import N8nClient, N8nNotFound
from services.n8n.errors import N8nError
from services.workflow_digest import PLACEHOLDER_SUFFIX

#: n8n's limit on a credential's name (characters): a longer reference name is cut.
NAME_MAX = 128
#: The empty value of each JSON type n8n's credential schemas use (unknown types accept "").
_EMPTY: dict[str, Any] = {"string": "", "boolean": False, "number": 0, "integer": 0}
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}

#: Which of ``ids`` a workflow of the environment (as last read) still references.
_USED = text("""
    SELECT c.id FROM unnest(CAST(:ids AS text[])) AS c(id)
     WHERE EXISTS (
        SELECT 1 FROM workflow_env_map m
         WHERE m.environment_id = :env_id AND m.status <> 'deleted'
           AND jsonb_path_exists(m.workflow_data, '$.nodes[*].credentials.*.id ? (@ == $id)',
                                 jsonb_build_object('id', c.id)))
""")


class PlaceholderFailed(Exception):
    """A placeholder could not be made (its type unknown to the target's n8n, or refused)."""


def placeholder_name(name: str) -> str:
    return name[: NAME_MAX - len(PLACEHOLDER_SUFFIX)] + PLACEHOLDER_SUFFIX


@dataclass(frozen=True)
class Placeholder:
    cred_type: str
    #: The name the workflows use (what it stands for).
    name: str
    n8n_id: str
    #: Its name in n8n.
    placeholder: str
    #: Whether this deployment created it (else reused).
    created: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.cred_type,
            "name": self.name,
            "placeholder": self.placeholder,
            "id": self.n8n_id,
            "created": self.created,
        }


class Placeholders:
    """One deployment's placeholders in its target."""

    def __init__(self, ctx, client: N8nClient, env, deployment_id) -> None:
        self.ctx, self.client, self.env, self.deployment_id = ctx, client, env, deployment_id
        self.by_ref: dict[tuple[str, str], Placeholder] = {}

    @property
    def created(self) -> list[Placeholder]:
        return [p for p in self.by_ref.values() if p.created]

    def ensure(self, wanted: Iterable[tuple[str, str]], known: env_links.CredentialResolver):
        """A placeholder for each (type, name) of ``wanted``: recorded, known to the target's
        inventory, or created (the lease checked before each creation, each recorded at once:
        a crash right after must not make the next attempt create a twin)."""
        wanted = sorted(set(wanted) - set(self.by_ref))
        if not wanted:
            return
        recorded = {
            (row.credential_type, row.name): Placeholder(
                row.credential_type, row.name, row.n8n_credential_id, row.n8n_credential_name, False
            )
            for row in db.scalars(
                select(PlaceholderCredential).where(
                    PlaceholderCredential.environment_id == self.env.id
                )
            )
        }
        for cred_type, name in wanted:
            listed = known.known.get((cred_type, placeholder_name(name)), ())
            if (cred_type, name) in recorded:
                self.by_ref[(cred_type, name)] = recorded[(cred_type, name)]
            elif len(listed) == 1:
                self.by_ref[(cred_type, name)] = Placeholder(
                    cred_type, name, listed[0], placeholder_name(name), False
                )
            else:
                self.by_ref[(cred_type, name)] = self._create(cred_type, name)
        db.commit()

    def resolver(self, known: env_links.CredentialResolver) -> env_links.CredentialResolver:
        """``known`` with each placeholder as the last resort of its reference."""
        refs = {k: {"id": p.n8n_id, "name": p.placeholder} for k, p in self.by_ref.items()}
        return dataclasses.replace(known, placeholders=refs)

    def _create(self, cred_type: str, name: str) -> Placeholder:
        where = f"{self.env.name}'s n8n"
        try:
            schema = self.client.credential_schema(cred_type)
        except N8nNotFound:
            raise PlaceholderFailed(
                f"{where} has no credential type {cred_type!r}: no placeholder for {name!r}"
            ) from None
        self.ctx.ensure_lease()
        try:
            made = self.client.create_credential(
                placeholder_name(name), cred_type, empty_data(schema)
            )
        except N8nError as error:
            raise PlaceholderFailed(
                f"{where} refused a placeholder for {cred_type} {name!r}: {error}"
            ) from error
        found = Placeholder(cred_type, name, str(made["id"]), placeholder_name(name), True)
        with self.ctx.fenced_transaction():
            db.execute(
                pg_insert(PlaceholderCredential)
                .values(
                    tenant_id=self.env.tenant_id,
                    environment_id=self.env.id,
                    credential_type=cred_type,
                    name=name,
                    n8n_credential_id=found.n8n_id,
                    n8n_credential_name=found.placeholder,
                    deployment_id=self.deployment_id,
                )
                .on_conflict_do_nothing()
            )
            audit.record(
                "promotion.placeholder_created",
                resource_type="deployment",
                resource_id=self.deployment_id,
                new={"environment_id": str(self.env.id), **found.as_dict()},
            )
        return found

    def remove_created(self, rolled_back: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """After an automatic rollback: delete the placeholders this deployment created that
        no workflow of the target references (none at all when a workflow could not be put
        back: it may still point at one). Each one's outcome; a failure is only reported."""
        created = self.created
        if not created or any(r["rollback"] == "failed" for r in rolled_back):
            return [p.as_dict() | {"removed": False} for p in created]
        used = set(db.scalars(_USED, {"ids": [p.n8n_id for p in created], "env_id": self.env.id}))
        results, removed = [], []
        for p in created:
            if p.n8n_id in used:
                results.append(p.as_dict() | {"removed": False})
                continue
            try:
                self.ctx.ensure_lease()
                with contextlib.suppress(N8nNotFound):  # gone already: what was wanted
                    self.client.delete_credential(p.n8n_id)
            except N8nError as error:
                results.append(p.as_dict() | {"removed": False, "error": str(error)})
                continue
            removed.append(p.n8n_id)
            results.append(p.as_dict() | {"removed": True})
        with self.ctx.fenced_transaction():
            if removed:
                db.execute(
                    delete(PlaceholderCredential).where(
                        PlaceholderCredential.environment_id == self.env.id,
                        PlaceholderCredential.n8n_credential_id.in_(removed),
                    )
                )
            audit.record(
                "promotion.placeholders_removed",
                resource_type="deployment",
                resource_id=self.deployment_id,
                new={"placeholders": results},
            )
        return results


def empty_data(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The least ``data`` n8n's schema for a credential type accepts: each required field
    with its empty value, then, until nothing moves, what each shown condition (an
    ``allOf`` of ``if``/``then``/``else``) requires or refuses."""
    properties = schema.get("properties") or {}
    data: dict[str, Any] = {}

    def put(field: str) -> None:
        spec = properties.get(field) or {}
        options = spec.get("enum")
        data.setdefault(field, options[0] if options else _EMPTY.get(spec.get("type"), ""))

    for field in schema.get("required") or ():
        put(field)
    blocks = [b for b in schema.get("allOf") or () if isinstance(b, Mapping) and "if" in b]
    for _ in range(len(blocks) + 1):
        before = dict(data)
        for block in blocks:
            branch = block.get("then" if _holds(block["if"], data) else "else") or {}
            required, refused = _branch_fields(branch)
            for field in required:
                put(field)
            for field in refused:
                data.pop(field, None)
        if data == before:
            break
    return data


def _holds(condition: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """Whether ``data`` meets an ``if`` of n8n's schemas (an absent field meets it, as in
    JSON Schema, unless the condition requires it)."""
    if any(field not in data for field in condition.get("required") or ()):
        return False
    for field, spec in (condition.get("properties") or {}).items():
        if field not in data:
            continue
        value = data[field]
        if "enum" in spec and value not in spec["enum"]:
            return False
        if "const" in spec and value != spec["const"]:
            return False
        if spec.get("type") in _TYPES and not _TYPES[spec["type"]](value):
            return False
        if "pattern" in spec and not re.search(spec["pattern"], str(value)):
            return False
    return True


def _branch_fields(branch: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(fields a branch requires, fields it refuses); of a oneOf, the first choice."""
    parts = [branch, *(branch.get("allOf") or ())]
    if branch.get("oneOf"):
        parts.append(branch["oneOf"][0])
    required = [f for part in parts for f in part.get("required") or ()]
    refused = [f for part in parts for f in (part.get("not") or {}).get("required") or ()]
    return required, refused
