"""Credentials: each environment's n8n credential inventory (metadata only), and the reads of
it with each credential's health (decided by services/credential_health.py).

Inventory: n8n 2.x lists its credentials (GET /credentials); on 1.x, which has no listing, the
inventory is what the nodes of the synced workflows reference. Either way ``used_by_workflows``
comes from those nodes. Secrets never enter the database: n8n never sends them, and only
id, name, type and project shares are read from what it does send.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Bundle

from models.credentials import Credential, CredentialHealth
from models.db import current_tenant, db
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import environments
from services.environments import ConnectionFailed
from services.errors import NotFound
from services.progress import Progress, no_progress

#: What ``health`` filters on besides HEALTH_STATUSES: credentials never checked.
UNCHECKED = "unchecked"


# --- reading ------------------------------------------------------------------------------


class _HealthBundle(Bundle):
    """A credential's health columns as one object, or None for a credential never checked."""

    def create_row_processor(self, query, procs, labels):
        make = super().create_row_processor(query, procs, labels)

        def health_or_none(row):
            health = make(row)
            return None if health.status is None else health

        return health_or_none


_HEALTH = _HealthBundle(
    "health",
    CredentialHealth.status,
    CredentialHealth.error_message,
    CredentialHealth.check_method,
    CredentialHealth.last_checked_at,
)
_LISTED = Bundle(
    "credential",
    Credential.id,
    Credential.environment_id,
    Credential.n8n_credential_id,
    Credential.name,
    Credential.type,
    Credential.source,
    Credential.shared_with_projects,
    Credential.used_by_workflows,
    func.jsonb_array_length(Credential.used_by_workflows).label("used_by_count"),
    Credential.created_at,
    Credential.updated_at,
    _HEALTH,
)


def list_query(
    *,
    environment_id: uuid.UUID | None = None,
    credential_type: str | None = None,
    health: str | None = None,
) -> Select:
    """Credentials with their health (``health`` is None when never checked), by name."""
    query = (
        select(_LISTED)
        .select_from(Credential)
        .outerjoin(CredentialHealth, CredentialHealth.credential_id == Credential.id)
        .order_by(Credential.name, Credential.id)
    )
    if environment_id:
        query = query.where(Credential.environment_id == environment_id)
    if credential_type:
        query = query.where(Credential.type == credential_type)
    if health == UNCHECKED:
        query = query.where(CredentialHealth.id.is_(None))
    elif health:
        query = query.where(CredentialHealth.status == health)
    return query


def get(credential_id: uuid.UUID) -> SimpleNamespace:
    """One credential with its health and the workflows (id and name) whose nodes use it."""
    row = db.scalar(list_query().where(Credential.id == credential_id))
    if row is None:
        raise NotFound("No such credential.")
    names = dict(
        db.execute(
            select(WorkflowEnvMap.n8n_workflow_id, WorkflowEnvMap.workflow_name).where(
                WorkflowEnvMap.environment_id == row.environment_id,
                WorkflowEnvMap.n8n_workflow_id.in_(row.used_by_workflows),
            )
        ).all()
    )
    used_by = [{"id": wid, "name": names.get(wid)} for wid in row.used_by_workflows]
    return SimpleNamespace(**{**row._mapping, "used_by_workflows": used_by})


# --- the inventory ----------------------------------------------------------------------------

#: Every credential reference in the nodes of the environment's present workflows, as sync
#: recorded them ({id, type, name, node}, whatever the workflow's size: see ``references``).
REFS = """
    refs AS (
        SELECT ref ->> 'id' AS n8n_credential_id,
               ref ->> 'type' AS type,
               ref ->> 'name' AS name,
               m.n8n_workflow_id AS workflow_id,
               m.workflow_name,
               m.n8n_updated_at,
               ref ->> 'node' AS node_name
          FROM workflow_env_map m
         CROSS JOIN LATERAL jsonb_array_elements(m.credential_refs) AS ref
         WHERE m.environment_id = :env_id
           AND m.status <> 'deleted' AND m.missing_since IS NULL AND NOT m.is_archived
    )
"""


def references(workflow: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every credential reference of a workflow's nodes as the node caches it, {id, type,
    name, node}; sync keeps them for every workflow, however large. References without an
    id (very old workflows named credentials only) cannot be keyed and are left out."""
    nodes = workflow.get("nodes")
    found = []
    for node in nodes if isinstance(nodes, list) else ():
        used = node.get("credentials") if isinstance(node, dict) else None
        if not isinstance(used, dict):
            continue
        for credential_type, ref in used.items():
            if isinstance(ref, dict) and ref.get("id"):
                found.append(
                    {
                        "id": str(ref["id"]),
                        "type": credential_type,
                        "name": ref.get("name"),
                        "node": node.get("name"),
                    }
                )
    return found


#: Per credential id: type and name as the most recently updated workflow has them (a renamed
#: credential leaves its old name in workflows not saved since), and the workflows using it.
_USAGE = """
    usage AS (
        SELECT n8n_credential_id,
               (array_agg(type ORDER BY n8n_updated_at DESC NULLS LAST, workflow_id))[1] AS type,
               (array_agg(name ORDER BY n8n_updated_at DESC NULLS LAST, workflow_id)
                   FILTER (WHERE name IS NOT NULL))[1] AS name,
               jsonb_agg(DISTINCT workflow_id ORDER BY workflow_id) AS used_by
          FROM refs
         GROUP BY n8n_credential_id
    )
"""

#: Where the inventory comes from: n8n's listing (a JSON array bound as :listed) or the usage.
_LISTED_FROM_API = """
    listed AS (
        SELECT id AS n8n_credential_id, name, type, shared
          FROM jsonb_to_recordset(:listed) AS l(id text, name text, type text, shared jsonb)
    )
"""
_LISTED_FROM_WORKFLOWS = """
    listed AS (
        SELECT n8n_credential_id, coalesce(name, '') AS name, type, '[]'::jsonb AS shared
          FROM usage
    )
"""

#: Upsert what is listed, delete what is not, in one statement; the counts for the summary.
#: ``xmax = 0`` tells a row this statement inserted from one it updated.
_SAVE_INVENTORY = """
    upserted AS (
        INSERT INTO credentials AS c (tenant_id, environment_id, n8n_credential_id, name, type,
                                      shared_with_projects, used_by_workflows, source)
        SELECT :tenant_id, :env_id, l.n8n_credential_id, l.name, l.type, l.shared,
               coalesce(u.used_by, '[]'::jsonb), :source
          FROM listed l LEFT JOIN usage u USING (n8n_credential_id)
        ON CONFLICT (tenant_id, environment_id, n8n_credential_id) DO UPDATE
           SET name = excluded.name, type = excluded.type,
               shared_with_projects = excluded.shared_with_projects,
               used_by_workflows = excluded.used_by_workflows, source = excluded.source,
               updated_at = now()
         WHERE (c.name, c.type, c.shared_with_projects, c.used_by_workflows, c.source)
               IS DISTINCT FROM (excluded.name, excluded.type, excluded.shared_with_projects,
                                 excluded.used_by_workflows, excluded.source)
        RETURNING xmax = 0 AS inserted
    ),
    removed AS (
        DELETE FROM credentials c
         WHERE c.environment_id = :env_id
           AND NOT EXISTS (SELECT 1 FROM listed l WHERE l.n8n_credential_id = c.n8n_credential_id)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM listed) AS credentials,
           (SELECT count(*) FROM upserted WHERE inserted) AS added,
           (SELECT count(*) FROM upserted WHERE NOT inserted) AS changed,
           (SELECT count(*) FROM removed) AS removed
"""

_INVENTORY_FROM_API = text(
    f"WITH {REFS}, {_USAGE}, {_LISTED_FROM_API}, {_SAVE_INVENTORY}"
).bindparams(bindparam("listed", type_=JSONB))
_INVENTORY_FROM_WORKFLOWS = text(
    f"WITH {REFS}, {_USAGE}, {_LISTED_FROM_WORKFLOWS}, {_SAVE_INVENTORY}"
)


def sync_inventory(env_id: uuid.UUID, *, progress: Progress = no_progress) -> dict[str, Any]:
    """Refresh the environment's credential inventory; returns what changed."""
    env = load(env_id)
    family = _version_family(env)
    params = {"tenant_id": current_tenant(), "env_id": env.id, "source": "workflows"}
    statement = _INVENTORY_FROM_WORKFLOWS
    if family == "2.x":
        statement = _INVENTORY_FROM_API
        params.update(source="api", listed=_list_from_api(env, progress))
    else:
        progress(message="deriving credentials from workflow nodes")
    lock_inventory(env.id)
    counts = db.execute(statement, params).one()
    db.execute(
        update(Environment)
        .where(Environment.id == env.id)
        .values(last_credential_sync_at=func.now())
    )
    db.commit()
    return {"version_family": family, "source": params["source"], **counts._asdict()}


def load(env_id: uuid.UUID) -> Environment:
    env = environments.get(env_id)
    # End the read: no transaction stays open while n8n answers.
    db.commit()
    return env


def _version_family(env: Environment) -> str:
    """The environment's n8n family; probed (and recorded) the first time it is needed."""
    if env.n8n_version_family:
        return env.n8n_version_family
    check = environments.check_connection(env)
    environments.record_check(env.id, check)
    if not check.ok:
        raise ConnectionFailed(check)
    return check.version_family


def _list_from_api(env: Environment, progress: Progress) -> list[dict[str, Any]]:
    """Every credential n8n lists, reduced to the fields we keep; a repeat (paging while
    the instance changes) counts once."""
    listed: dict[str, dict[str, Any]] = {}
    with environments.n8n_session(env) as client:
        for page in client.iter_credentials():
            for item in page:
                if item.get("id"):
                    listed[str(item["id"])] = _metadata(item)
            progress(current=len(listed), message=f"{len(listed)} credentials listed")
    return list(listed.values())


def _metadata(item: dict[str, Any]) -> dict[str, Any]:
    """An allowlist: whatever else n8n sends (a future field, a misbehaving proxy) is dropped."""
    shares = item.get("shared") if isinstance(item.get("shared"), list) else []
    return {
        "id": str(item["id"]),
        "name": str(item.get("name") or ""),
        "type": str(item.get("type") or ""),
        "shared": [_share(share) for share in shares if isinstance(share, dict)],
    }


def _share(share: dict[str, Any]) -> dict[str, Any]:
    project = share.get("project") if isinstance(share.get("project"), dict) else {}
    return {
        "project_id": share.get("projectId") or project.get("id"),
        "project_name": project.get("name"),
        "role": share.get("role"),
    }


def lock_inventory(env_id: uuid.UUID) -> None:
    """Serialise writers of one environment's credentials until commit: an inventory and a
    health check may run at once, and would otherwise race on the same rows."""
    db.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"credentials:{env_id}"},
    )
