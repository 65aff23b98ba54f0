"""How one environment's ids map to the platform's: workflows (n8n id <-> canonical id, from
workflow_env_map) and credentials ((type, name) -> the environment's credential).

    links = env_links.links_for(env_id)          # one query
    links.workflow_ref("n8nId123")               # -> canonical id (str) or None
    links.n8n_id_for(canonical_id)               # -> the environment's n8n id or None
    creds = env_links.credentials_for(env_id)    # one query
    creds.resolve("slackApi", "Alerts")          # -> {"id", "name"} or None
    creds.key("slackApi", {"id": ..., "name": "Alerts"})   # the digest's logical key

These are what services/workflow_file.py (``from_n8n`` / ``to_n8n``), the digests
(services/runtime_digest.py) and the deploy writer (services/deploy.py) take.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

from models.db import db
from models.workflows import WorkflowEnvMap
from services.workflow_digest import PLACEHOLDER_SUFFIX, default_credential_key


@dataclass(frozen=True)
class EnvLinks:
    """The links of one environment: every workflow_env_map row with a canonical id."""

    environment_id: uuid.UUID
    #: n8n workflow id -> canonical id (text).
    by_n8n: dict[str, str] = field(default_factory=dict)
    #: canonical id (text) -> n8n workflow id (at most one per environment).
    by_canonical: dict[str, str] = field(default_factory=dict)

    def workflow_ref(self, n8n_id: str) -> str | None:
        """The canonical id of an n8n workflow of this environment (a WorkflowRef)."""
        return self.by_n8n.get(n8n_id)

    def n8n_id_for(self, canonical_id: str | uuid.UUID) -> str | None:
        """This environment's n8n id of a canonical workflow (a ResolveWorkflow)."""
        return self.by_canonical.get(str(canonical_id))

    def with_link(self, n8n_id: str, canonical_id: str | uuid.UUID) -> EnvLinks:
        """A copy with one more link (a workflow just created for ``canonical_id``)."""
        canonical = str(canonical_id)
        by_n8n = {k: v for k, v in self.by_n8n.items() if v != canonical}
        return EnvLinks(
            self.environment_id,
            {**by_n8n, n8n_id: canonical},
            {**self.by_canonical, canonical: n8n_id},
        )


def links_for(env_id: uuid.UUID) -> EnvLinks:
    """The environment's links, in one query."""
    return links_for_many([env_id])[env_id]


def links_for_many(env_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, EnvLinks]:
    """Links of several environments, in one query."""
    env_ids = list(env_ids)
    found: dict[uuid.UUID, EnvLinks] = {env_id: EnvLinks(env_id) for env_id in env_ids}
    rows = db.execute(
        select(
            WorkflowEnvMap.environment_id,
            WorkflowEnvMap.n8n_workflow_id,
            WorkflowEnvMap.canonical_id,
        ).where(
            WorkflowEnvMap.environment_id.in_(env_ids), WorkflowEnvMap.canonical_id.is_not(None)
        )
    ).all()
    for env_id, n8n_id, canonical_id in rows:
        links = found[env_id]
        links.by_n8n[n8n_id] = str(canonical_id)
        links.by_canonical[str(canonical_id)] = n8n_id
    return found


# --- credentials ------------------------------------------------------------------------------

#: (type, name, id) of every credential the environment is known to have: its inventory
#: (credentials), and every reference in the cached definitions of its workflows, which on
#: n8n 1.x is where the inventory comes from anyway (and keeps a workflow that was the only
#: user of a credential restorable after it is gone). ``listed`` says which source.
_KNOWN_CREDENTIALS = text("""
    SELECT type, name, n8n_credential_id AS id, true AS listed
      FROM credentials
     WHERE environment_id = :env_id
    UNION
    SELECT ref.key, ref.value ->> 'name', ref.value ->> 'id', false
      FROM workflow_env_map m
     CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(m.workflow_data -> 'nodes')
           WHEN 'array' THEN m.workflow_data -> 'nodes' ELSE '[]' END) AS node
     CROSS JOIN LATERAL jsonb_each(CASE jsonb_typeof(node -> 'credentials')
           WHEN 'object' THEN node -> 'credentials' ELSE '{}' END) AS ref
     WHERE m.environment_id = :env_id AND m.status <> 'deleted'
       AND jsonb_typeof(ref.value) = 'object'
       AND coalesce(ref.value ->> 'id', '') <> '' AND coalesce(ref.value ->> 'name', '') <> ''
""")


@dataclass(frozen=True)
class CredentialResolver:
    """Finds an environment's credential for a (type, name) reference.

    ``logical`` is the plug for logical credential mappings (issue 12): (type, name) as a file
    or a source environment names it -> (logical key, (type, name) in this environment). It
    is consulted first; without an entry, the credential must exist here by the same type and
    name. A (type, name) with two different credentials here is ambiguous and resolves to
    nothing (``ambiguous`` lists them)."""

    environment_id: uuid.UUID
    #: (type, name) -> the credential ids this environment has under it.
    known: Mapping[tuple[str, str], tuple[str, ...]]
    logical: Mapping[tuple[str, str], tuple[str, tuple[str, str]]] = field(default_factory=dict)
    #: (type, name) -> the placeholder credential ``{"id", "name"}`` a deployment writes for a
    #: reference resolved no other way (empty but for a deployment that allows placeholders).
    placeholders: Mapping[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def resolve(self, cred_type: str, name: str) -> dict[str, Any] | None:
        """The credential reference ``{"id", "name"}`` to write into a node (a
        ResolveCredential), or None."""
        target = self.logical.get((cred_type, name), (None, (cred_type, name)))[1]
        ids = self.known.get(target, ())
        if len(ids) == 1:
            return {"id": ids[0], "name": target[1]}
        return self.placeholders.get((cred_type, name))

    def key(self, cred_type: str, ref: Mapping[str, Any]) -> str:
        """The logical key of a node's credential reference (a CredentialKey); a placeholder's
        is that of the credential it stands for."""
        name = str(ref.get("name", "")).removesuffix(PLACEHOLDER_SUFFIX)
        mapped = self.logical.get((cred_type, name))
        return mapped[0] if mapped else default_credential_key(cred_type, ref)

    @property
    def ambiguous(self) -> list[tuple[str, str]]:
        return sorted(key for key, ids in self.known.items() if len(ids) > 1)


#: Every name under which the tenant's logical credentials are known (the logical name and each
#: environment's mapped one), with what ``env_id`` maps each to (NULL: no mapping there).
_LOGICAL = text("""
    SELECT l.id, l.credential_type, l.name AS logical_name, n.type, n.name,
           here.n8n_credential_type AS here_type, here.n8n_credential_name AS here_name
      FROM logical_credentials l
      CROSS JOIN LATERAL (
            SELECT l.credential_type AS type, l.name
            UNION
            SELECT m.n8n_credential_type, m.n8n_credential_name
              FROM credential_mappings m WHERE m.logical_credential_id = l.id) AS n
      LEFT JOIN credential_mappings here
        ON here.logical_credential_id = l.id AND here.environment_id = :env_id
""")


def logical_for(env_id: uuid.UUID) -> dict[tuple[str, str], tuple[str, tuple[str, str]]]:
    """(type, name) as any environment or file names a logical credential -> (its logical key,
    (type, name) in ``env_id``; ("", "") when ``env_id`` has no mapping for it), one query."""
    found: dict[tuple[str, str], tuple[str, tuple[str, str]]] = {}
    for row in db.execute(_LOGICAL, {"env_id": env_id}):
        here = (row.here_type, row.here_name) if row.here_type else ("", "")
        key = default_credential_key(row.credential_type, {"name": row.logical_name})
        found[(row.type, row.name)] = (key, here)
    return found


def credentials_for(env_id: uuid.UUID) -> CredentialResolver:
    """The environment's credentials by (type, name), and the tenant's logical credential
    mappings as ``CredentialResolver.logical``, in two queries."""
    listed: dict[tuple[str, str], set[str]] = {}
    referenced: dict[tuple[str, str], set[str]] = {}
    for row in db.execute(_KNOWN_CREDENTIALS, {"env_id": env_id}):
        (listed if row.listed else referenced).setdefault((row.type, row.name), set()).add(row.id)
    # The inventory's name for an id wins over a node's cached, possibly older, name.
    listed_ids = {cid for ids in listed.values() for cid in ids}
    for key, ids in referenced.items():
        if key not in listed and not ids & listed_ids:
            listed[key] = ids
    return CredentialResolver(
        env_id, {key: tuple(sorted(ids)) for key, ids in listed.items()}, logical_for(env_id)
    )
