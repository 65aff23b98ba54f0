"""Credentials: each environment's n8n credential inventory (metadata only) and its health.

Inventory: n8n 2.x lists its credentials (GET /credentials); on 1.x, which has no listing, the
inventory is what the nodes of the synced workflows reference. Either way ``used_by_workflows``
comes from those nodes. Secrets never enter the database: n8n never sends them, and only
id, name, type and project shares are read from what it does send.

Health: n8n's own test (2.x, POST /credentials/{id}/test) where n8n can test the credential,
otherwise the rule below over recent executions (see ``_BY_EXECUTIONS``). A credential is
``unknown`` when nothing exercised it, ``healthy``, ``auth_error`` when its target refused it,
``error`` when it failed for another reason (a target that is down is not an authentication
failure), or ``warning`` when it failed lately but works again.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Bundle

from models.credentials import HEALTH_STATUSES, Credential, CredentialHealth
from models.db import current_tenant, db
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import environments
from services.environments import ConnectionFailed
from services.errors import NotFound
from services.n8n import N8nBadRequest, N8nClient, N8nNotFound, N8nServerError
from services.progress import Progress, no_progress

#: A progress callback with JobContext.progress's keywords (current, total, message).

#: Hours of executions the health rule looks back over.
HEALTH_WINDOW_H = 24
#: How n8n's test answers when it has no test for the credential's type (CredentialsTester);
#: such credentials are judged by their executions instead.
UNTESTABLE_MESSAGES = (
    "No testing function found for this credential.",
    "There are no nodes that can test this credential.",
)
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
_REFS = """
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
    f"WITH {_REFS}, {_USAGE}, {_LISTED_FROM_API}, {_SAVE_INVENTORY}"
).bindparams(bindparam("listed", type_=JSONB))
_INVENTORY_FROM_WORKFLOWS = text(
    f"WITH {_REFS}, {_USAGE}, {_LISTED_FROM_WORKFLOWS}, {_SAVE_INVENTORY}"
)


def sync_inventory(env_id: uuid.UUID, *, progress: Progress = no_progress) -> dict[str, Any]:
    """Refresh the environment's credential inventory; returns what changed."""
    env = _load(env_id)
    family = _version_family(env)
    params = {"tenant_id": current_tenant(), "env_id": env.id, "source": "workflows"}
    statement = _INVENTORY_FROM_WORKFLOWS
    if family == "2.x":
        statement = _INVENTORY_FROM_API
        params.update(source="api", listed=_list_from_api(env, progress))
    else:
        progress(message="deriving credentials from workflow nodes")
    _lock_inventory(env.id)
    counts = db.execute(statement, params).one()
    db.execute(
        update(Environment)
        .where(Environment.id == env.id)
        .values(last_credential_sync_at=func.now())
    )
    db.commit()
    return {"version_family": family, "source": params["source"], **counts._asdict()}


def _load(env_id: uuid.UUID) -> Environment:
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


def _lock_inventory(env_id: uuid.UUID) -> None:
    """Serialise writers of one environment's credentials until commit: an inventory and a
    health check may run at once, and would otherwise race on the same rows."""
    db.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"credentials:{env_id}"},
    )


# --- health ------------------------------------------------------------------------------------

_UPSERT_HEALTH = """
    ON CONFLICT (tenant_id, credential_id) DO UPDATE
       SET status = excluded.status, error_message = excluded.error_message,
           check_method = excluded.check_method, last_checked_at = excluded.last_checked_at,
           updated_at = now()
    RETURNING status
"""

#: What a failure says when the credential itself was refused (as opposed to the target
#: being down or slow): a POSIX regex, matched case-insensitively (PostgreSQL ~* and re).
AUTH_FAILURE = (
    r"(^|[^0-9])(401|403)([^0-9]|$)|unauthori[sz]ed|forbidden|authenticat"
    r"|authori[sz]ation (failed|required)|not authori[sz]ed|access denied|permission denied"
    r"|invalid[ _-]?(api[ _-]?)?(auth|key|token|credentials?|grant|client|signature|password)"
    r"|(token|session) (has )?expired|expired (token|session)|bad credentials"
    r"|(incorrect|wrong) (password|username)|login failed"
)
_AUTH_FAILURE = re.compile(AUTH_FAILURE, re.IGNORECASE)

#: The executions rule, per credential, over the last HEALTH_WINDOW_H hours. A run of a node
#: is an execution of its workflow that succeeded or failed at that node (one that failed at
#: another node says nothing about this one).
#: - unknown: no node using it ran in the window (nothing exercised it);
#: - auth_error / error: for some node using it, its latest run failed, refused
#:   authentication (AUTH_FAILURE) / for another reason (target down, timeouts, 5xx);
#: - warning: some run of such a node failed, but each one's latest run succeeded;
#: - healthy: runs of the nodes using it, none failed.
_BY_EXECUTIONS = text(f"""
    WITH {_REFS},
    targets AS (
        SELECT id, n8n_credential_id FROM credentials
         WHERE environment_id = :env_id
           AND (CAST(:only AS uuid[]) IS NULL OR id = ANY(CAST(:only AS uuid[])))
    ),
    uses AS (
        SELECT DISTINCT t.id AS credential_id, r.workflow_id, r.workflow_name, r.node_name
          FROM refs r JOIN targets t USING (n8n_credential_id)
    ),
    runs AS (
        SELECT u.credential_id, u.workflow_id, u.workflow_name, u.node_name,
               e.started_at, e.error_message, e.normalized_status = 'error' AS failed,
               row_number() OVER (PARTITION BY u.credential_id, u.workflow_id, u.node_name
                                  ORDER BY e.started_at DESC, e.n8n_execution_id DESC) AS recency
          FROM uses u
          JOIN executions e
            ON e.environment_id = :env_id AND e.workflow_id = u.workflow_id
           AND e.started_at >= now() - make_interval(hours => CAST(:window_h AS int))
           AND (e.normalized_status = 'success'
                OR (e.normalized_status = 'error' AND e.error_node = u.node_name))
    ),
    verdicts AS (
        SELECT credential_id,
               CASE WHEN NOT bool_or(failed) THEN 'healthy'
                    WHEN NOT bool_or(failed AND recency = 1) THEN 'warning'
                    WHEN (array_agg(error_message ORDER BY started_at DESC)
                              FILTER (WHERE failed AND recency = 1))[1] ~* :auth_failure
                        THEN 'auth_error'
                    ELSE 'error' END AS status,
               count(*) FILTER (WHERE failed) AS failures,
               (array_agg(format('node %s of workflow %s: %s', node_name,
                                 coalesce(workflow_name, workflow_id),
                                 coalesce(error_message, 'failed'))
                          ORDER BY recency = 1 DESC, started_at DESC) FILTER (WHERE failed))[1]
                   AS detail
          FROM runs
         GROUP BY credential_id
    )
    INSERT INTO credential_health AS h
           (tenant_id, credential_id, status, error_message, check_method, last_checked_at)
    SELECT :tenant_id, t.id, coalesce(v.status, 'unknown'),
           CASE coalesce(v.status, 'unknown')
               WHEN 'unknown' THEN format('No run of a node using it in the last %s h.',
                                          :window_h)
               WHEN 'auth_error' THEN 'The latest run was refused authentication at ' || v.detail
               WHEN 'error' THEN 'The latest run failed at ' || v.detail
               WHEN 'warning' THEN format('%s failed run(s) in the last %s h, the latest runs '
                                          'succeeded; last failure at %s',
                                          v.failures, :window_h, v.detail)
           END,
           'executions', now()
      FROM targets t LEFT JOIN verdicts v ON v.credential_id = t.id
    {_UPSERT_HEALTH}
""")

#: n8n's test results (a JSON array bound as :results), one row per credential tested.
_SAVE_TEST_RESULTS = text(f"""
    INSERT INTO credential_health AS h
           (tenant_id, credential_id, status, error_message, check_method, last_checked_at)
    SELECT :tenant_id, c.id, r.status, r.message, 'test_endpoint', now()
      FROM jsonb_to_recordset(:results) AS r(credential_id uuid, status text, message text)
      JOIN credentials c ON c.id = r.credential_id
    {_UPSERT_HEALTH}
""").bindparams(bindparam("results", type_=JSONB))


def check_health(env_id: uuid.UUID, *, progress: Progress = no_progress) -> dict[str, Any]:
    """Refresh the inventory, then decide every credential's health; returns the counts."""
    inventory = sync_inventory(env_id, progress=progress)
    if inventory["version_family"] == "2.x":
        tested, untestable = _test_with_n8n(_load(env_id), progress)
        by_method = {"test_endpoint": _save_test_results(env_id, tested)}
        if untestable:
            by_method["executions"] = _judge_by_executions(env_id, only=untestable)
    else:
        progress(message="judging credentials by recent executions")
        by_method = {"executions": _judge_by_executions(env_id, only=None)}
    db.commit()
    statuses = sum(by_method.values(), Counter())
    return {
        "inventory": inventory,
        "checked": statuses.total(),
        **{status: statuses[status] for status in HEALTH_STATUSES},
        "by_method": {method: counts.total() for method, counts in by_method.items()},
    }


def _test_with_n8n(
    env: Environment, progress: Progress
) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
    """n8n's verdict on each credential, and the credentials n8n has no test for."""
    targets = db.execute(
        select(Credential.id, Credential.n8n_credential_id)
        .where(Credential.environment_id == env.id)
        .order_by(Credential.name)
    ).all()
    db.commit()
    tested, untestable = [], []
    with environments.n8n_session(env) as client:
        for done, target in enumerate(targets):
            progress(current=done, total=len(targets), message="testing credentials in n8n")
            verdict = _test_one(client, target.n8n_credential_id)
            if verdict is None:
                untestable.append(target.id)
            else:
                status, message = verdict
                tested.append(
                    {"credential_id": str(target.id), "status": status, "message": message}
                )
    return tested, untestable


def _test_one(client: N8nClient, n8n_credential_id: str) -> tuple[str, str | None] | None:
    """(status, reason) from n8n's test, or None when n8n cannot test this type. Failures of
    the instance itself (unreachable, key refused) propagate: they are not the credential's."""
    try:
        answer = client.test_credential(n8n_credential_id)
    except N8nNotFound:
        return "error", "n8n no longer has this credential."
    except (N8nBadRequest, N8nServerError) as error:
        return "warning", f"n8n could not test it: {error.n8n_message or error}"
    status, message = answer.get("status"), answer.get("message")
    if status == "OK":
        return "healthy", None
    if status == "Error" and message in UNTESTABLE_MESSAGES:
        return None
    if status == "Error":
        reason = message or "n8n's test failed without a reason."
        return ("auth_error" if _AUTH_FAILURE.search(reason) else "error"), reason
    return "warning", f"n8n's test answered an unknown status {status!r}: {message}"


def _save_test_results(env_id: uuid.UUID, tested: list[dict[str, Any]]) -> Counter:
    _lock_inventory(env_id)
    return Counter(
        db.scalars(_SAVE_TEST_RESULTS, {"tenant_id": current_tenant(), "results": tested})
    )


def _judge_by_executions(env_id: uuid.UUID, *, only: list[uuid.UUID] | None) -> Counter:
    _lock_inventory(env_id)
    params = {
        "tenant_id": current_tenant(),
        "env_id": env_id,
        "only": only,
        "window_h": HEALTH_WINDOW_H,
        "auth_failure": AUTH_FAILURE,
    }
    return Counter(db.scalars(_BY_EXECUTIONS, params))
