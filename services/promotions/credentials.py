"""Logical credentials (a credential as workflows name it: type + name) and their mapping to
each environment's n8n credential (by type + name), with suggestions from the inventory.
Promotions resolve references through them (services/env_links.credentials_for) and record
each rewrite. Stored digests key credentials through them (services/runtime_digest.py), so a
change starts a ``workflow_rehash`` job. No credential secret is ever read or stored: names
and types only."""

from __future__ import annotations

import difflib
import uuid
from typing import Any

from sqlalchemy import Select, select

from models.credentials import Credential
from models.db import db
from models.promotions import CredentialMapping, LogicalCredential
from services import audit, environments, ignore_rules
from services.rows import flush_unique, get_or_404, unchanged


def list_logical() -> Select:
    return select(LogicalCredential).order_by(
        LogicalCredential.credential_type, LogicalCredential.name
    )


def get_logical(logical_id: uuid.UUID) -> LogicalCredential:
    return get_or_404(LogicalCredential, logical_id, "No such logical credential.")


def _public(row: LogicalCredential) -> dict[str, Any]:
    return {"credential_type": row.credential_type, "name": row.name}


def create_logical(
    *, credential_type: str, name: str, description: str | None = None
) -> LogicalCredential:
    row = LogicalCredential(credential_type=credential_type, name=name, description=description)
    db.add(row)
    return _saved(row, "logical_created", changes={})


def update_logical(logical_id: uuid.UUID, **fields: Any) -> LogicalCredential:
    keys = ("credential_type", "name", "description")
    changes = {k: fields[k] for k in keys if k in fields}
    return _saved(get_logical(logical_id), "logical_updated", changes=changes)


def delete_logical(logical_id: uuid.UUID) -> None:
    _saved(get_logical(logical_id), "logical_deleted", delete=True)


def list_mappings(
    *, environment_id: uuid.UUID | None = None, logical_credential_id: uuid.UUID | None = None
) -> Select:
    query = select(CredentialMapping).order_by(CredentialMapping.created_at, CredentialMapping.id)
    if environment_id:
        query = query.where(CredentialMapping.environment_id == environment_id)
    if logical_credential_id:
        query = query.where(CredentialMapping.logical_credential_id == logical_credential_id)
    return query


def get_mapping(mapping_id: uuid.UUID) -> CredentialMapping:
    return get_or_404(CredentialMapping, mapping_id, "No such credential mapping.")


def _mapping_public(row: CredentialMapping) -> dict[str, Any]:
    return {
        "logical_credential_id": str(row.logical_credential_id),
        "environment_id": str(row.environment_id),
        "n8n_credential_type": row.n8n_credential_type,
        "n8n_credential_name": row.n8n_credential_name,
    }


def create_mapping(
    *,
    logical_credential_id: uuid.UUID,
    environment_id: uuid.UUID,
    n8n_credential_name: str,
    n8n_credential_type: str | None = None,
) -> CredentialMapping:
    """Map a logical credential to an environment's credential (its type by default)."""
    logical = get_logical(logical_credential_id)
    environments.get(environment_id)
    row = CredentialMapping(
        logical_credential_id=logical.id,
        environment_id=environment_id,
        n8n_credential_type=n8n_credential_type or logical.credential_type,
        n8n_credential_name=n8n_credential_name,
    )
    db.add(row)
    return _saved(row, "created", changes={})


def update_mapping(mapping_id: uuid.UUID, **fields: Any) -> CredentialMapping:
    keys = ("n8n_credential_type", "n8n_credential_name")
    changes = {k: fields[k] for k in keys if fields.get(k)}
    return _saved(get_mapping(mapping_id), "updated", changes=changes)


def delete_mapping(mapping_id: uuid.UUID) -> None:
    _saved(get_mapping(mapping_id), "deleted", delete=True)


def _saved(row, action: str, *, changes: dict[str, Any] | None = None, delete: bool = False):
    """Apply ``changes`` to ``row`` (or delete it), audit ``action`` with the public values
    before and after, recompute the tenant's digests (a job), commit. A duplicate (type and
    name, or a second mapping) is a 409."""
    logical = isinstance(row, LogicalCredential)
    public = _public if logical else _mapping_public
    before = public(row) if row.id is not None and (delete or changes) else None
    if delete:
        db.delete(row)
    for key, value in (changes or {}).items():
        setattr(row, key, value)
    if not delete and row.id is not None and unchanged(row):
        return row  # a no-op change: nothing written, nothing audited
    flush_unique(
        "A logical credential of that type and name exists already."
        if logical
        else "That logical credential is mapped in that environment already."
    )
    audit.record(
        f"credential_mapping.{action}",
        resource_type="logical_credential" if logical else "credential_mapping",
        resource_id=row.id,
        old=before,
        new=None if delete else public(row),
    )
    ignore_rules.start_rehash(None)
    db.commit()
    return row


def suggestions(environment_id: uuid.UUID) -> list[dict[str, Any]]:
    """For each logical credential not mapped in the environment, its inventory's credentials
    of the same type, the most similar name first (score: difflib ratio; same name 1)."""
    environments.get(environment_id)
    mapped = select(CredentialMapping.logical_credential_id).where(
        CredentialMapping.environment_id == environment_id
    )
    unmapped = db.scalars(list_logical().where(LogicalCredential.id.not_in(mapped))).all()
    inventory: dict[str, set[str]] = {}
    for cred_type, name in db.execute(
        select(Credential.type, Credential.name).where(Credential.environment_id == environment_id)
    ):
        inventory.setdefault(cred_type, set()).add(name)
    found = []
    for logical in unmapped:
        ranked = sorted(
            (
                (difflib.SequenceMatcher(None, logical.name.lower(), name.lower()).ratio(), name)
                for name in inventory.get(logical.credential_type, ())
            ),
            key=lambda pair: (-pair[0], pair[1]),
        )
        candidates = [
            {
                "n8n_credential_type": logical.credential_type,
                "n8n_credential_name": name,
                "score": round(score, 3),
            }
            for score, name in ranked
        ]
        if candidates:
            found.append(
                {
                    "logical_credential_id": str(logical.id),
                    "credential_type": logical.credential_type,
                    "name": logical.name,
                    "candidates": candidates,
                }
            )
    return found
