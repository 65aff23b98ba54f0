"""Credential health: n8n's own test (2.x, POST /credentials/{id}/test) where n8n can test
the credential, otherwise the rule below over recent executions (see ``_BY_EXECUTIONS``).

A credential is ``unknown`` when nothing exercised it, ``healthy``, ``auth_error`` when its
target refused it, ``error`` when it failed for another reason (a target that is down is not
an authentication failure), or ``warning`` when it failed lately but works again.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB

from models.credentials import HEALTH_STATUSES, Credential
from models.db import current_tenant, db
from models.environments import Environment
from services import environments
from services.credentials import REFS, load, lock_inventory, sync_inventory
from services.n8n import N8nBadRequest, N8nClient, N8nNotFound, N8nServerError
from services.progress import Progress, no_progress

#: Hours of executions the health rule looks back over.
HEALTH_WINDOW_H = 24
#: How n8n's test answers when it has no test for the credential's type (CredentialsTester);
#: such credentials are judged by their executions instead.
UNTESTABLE_MESSAGES = (
    "No testing function found for this credential.",
    "There are no nodes that can test this credential.",
)

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
    WITH {REFS},
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
        tested, untestable = _test_with_n8n(load(env_id), progress)
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
    lock_inventory(env_id)
    return Counter(
        db.scalars(_SAVE_TEST_RESULTS, {"tenant_id": current_tenant(), "results": tested})
    )


def _judge_by_executions(env_id: uuid.UUID, *, only: list[uuid.UUID] | None) -> Counter:
    lock_inventory(env_id)
    params = {
        "tenant_id": current_tenant(),
        "env_id": env_id,
        "only": only,
        "window_h": HEALTH_WINDOW_H,
        "auth_failure": AUTH_FAILURE,
    }
    return Counter(db.scalars(_BY_EXECUTIONS, params))
