"""Logical credentials (a credential as workflows name it: type + name) and their mapping to
each environment's n8n credential (by type + name), with suggestions from the inventory.
Promotions resolve references through them (services/env_links.credentials_for) and record
each rewrite. No credential secret is ever read or stored: names and types only."""

from __future__ import annotations

import difflib
import uuid
from typing import Any

from sqlalchemy import Select, select

from models.credentials import Credential
from models.db import db
from models.promotions import CredentialMapping, LogicalCredential
from services import audit, environments
from services.rows import flush_unique, get_or_404


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
    flush_unique("A logical credential of that type and name exists already.")
    audit.record(
        "credential_mapping.logical_created",
        resource_type="logical_credential",
        resource_id=row.id,
        new=_public(row),
    )
    db.commit()
    return row


def update_logical(logical_id: uuid.UUID, **fields: Any) -> LogicalCredential:
    row = get_logical(logical_id)
    old = _public(row)
    for key in ("credential_type", "name", "description"):
        if key in fields:
            setattr(row, key, fields[key])
    flush_unique("A logical credential of that type and name exists already.")
    audit.record(
        "credential_mapping.logical_updated",
        resource_type="logical_credential",
        resource_id=row.id,
        old=old,
        new=_public(row),
    )
    db.commit()
    return row


def delete_logical(logical_id: uuid.UUID) -> None:
    row = get_logical(logical_id)
    db.delete(row)
    audit.record(
        "credential_mapping.logical_deleted",
        resource_type="logical_credential",
        resource_id=logical_id,
        old=_public(row),
    )
    db.commit()


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
    flush_unique("That logical credential is mapped in that environment already.")
    audit.record(
        "credential_mapping.created",
        resource_type="credential_mapping",
        resource_id=row.id,
        new=_mapping_public(row),
    )
    db.commit()
    return row


def update_mapping(mapping_id: uuid.UUID, **fields: Any) -> CredentialMapping:
    row = get_mapping(mapping_id)
    old = _mapping_public(row)
    for key in ("n8n_credential_type", "n8n_credential_name"):
        if fields.get(key):
            setattr(row, key, fields[key])
    db.flush()
    audit.record(
        "credential_mapping.updated",
        resource_type="credential_mapping",
        resource_id=row.id,
        old=old,
        new=_mapping_public(row),
    )
    db.commit()
    return row


def delete_mapping(mapping_id: uuid.UUID) -> None:
    row = get_mapping(mapping_id)
    db.delete(row)
    audit.record(
        "credential_mapping.deleted",
        resource_type="credential_mapping",
        resource_id=mapping_id,
        old=_mapping_public(row),
    )
    db.commit()


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
