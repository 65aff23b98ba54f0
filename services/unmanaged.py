"""Actions on an environment's workflows (system.md §4.1): link to a canonical workflow,
unlink, ignore, unignore, and (as jobs, they commit to Git) create canonical and
snapshot-only. Every one takes many workflows at once (bulk) and is all or nothing.

    unmanaged.apply(env_id, "ignore", workflow_ids, principal=...)          # -> result
    unmanaged.apply(env_id, "link", [w1, w2], canonical_ids=[c1, c2], principal=...)
    unmanaged.apply(env_id, "create_canonical", workflow_ids, principal=...)  # -> job

The environment action guard (services/policy.py) decides per class; in production every
action also takes an admin (developers act on dev and staging). A workflow in the wrong state
for the action (linking an ignored one, unlinking one that is not linked) is a 409 naming each.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select, update

from jobs import core as jobs
from models.db import db
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import audit, canonicals, environments, links, policy, snapshots
from services.errors import Conflict, InvalidInput, NotFound, PolicyBlocked
from services.identity import Principal

#: action -> the statuses a workflow may be in for it.
ACCEPTS = {
    policy.LINK: ("untracked",),
    policy.UNLINK: ("linked",),
    # A linked workflow is unlinked first (its own rule), never ignored past that rule.
    policy.IGNORE: ("untracked",),
    policy.UNIGNORE: ("ignored",),
    policy.CREATE_CANONICAL: ("untracked",),
    policy.SNAPSHOT_ONLY: ("untracked", "ignored"),
}
ACTIONS = tuple(ACCEPTS)
#: Actions that commit to Git, so run as jobs.
JOB_ACTIONS = {policy.CREATE_CANONICAL: "workflow_manage", policy.SNAPSHOT_ONLY: "workflow_backup"}
#: Most workflows one call acts on.
MAX_BULK = 500


def authorize(env: Environment, action: str, principal: Principal | None) -> policy.Decision:
    """The guard's decision, plus: in production every workflow action takes an admin."""
    decision = policy.enforce(env, action, principal)
    if (
        env.environment_class == "production"
        and principal is not None
        and not principal.has_role("admin")
    ):
        raise PolicyBlocked(
            f"{action.replace('_', ' ').capitalize()} in production environments takes the "
            "admin role: developers act on dev and staging.",
            code="action_blocked",
            environment_id=str(env.id),
            environment_class=env.environment_class,
            action=action,
            policy=decision.policy,
            rule=decision.rule,
            required_role="admin",
        )
    return decision


def apply(
    env_id: uuid.UUID,
    action: str,
    workflow_ids: Sequence[uuid.UUID],
    *,
    principal: Principal,
    canonical_ids: Sequence[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """Take ``action`` on the environment's workflows ``workflow_ids`` (see the module);
    ``canonical_ids``, for link only, pairs each workflow with its canonical workflow."""
    if action not in ACCEPTS:
        raise InvalidInput(f"Unknown action {action!r}.", code="invalid_action")
    ids = list(workflow_ids)
    if not ids or len(ids) > MAX_BULK or len(set(ids)) != len(ids):
        raise InvalidInput(f"Name 1 to {MAX_BULK} different workflows.", code="invalid_selection")
    if (action == policy.LINK) != (canonical_ids is not None):
        raise InvalidInput(
            "canonical_ids go with link, and only with link.", code="invalid_selection"
        )
    pairs = dict(zip(ids, canonical_ids or (), strict=False))
    if action == policy.LINK and (len(canonical_ids) != len(ids)):
        raise InvalidInput(
            "Give one canonical id per workflow, in the same order.", code="invalid_selection"
        )
    env = environments.get(env_id)
    decision = authorize(env, action, principal)
    found = _lock(env.id, ids)
    _check_states(action, ids, found)
    before = {str(row.id): row.status for row in found.values()}
    result: dict[str, Any] = {"action": action, "warnings": list(decision.warnings)}
    if action == policy.SNAPSHOT_ONLY:
        snapshots.require_entitlement()
    if action in JOB_ACTIONS:
        job = jobs.start(
            JOB_ACTIONS[action],
            resource_type="environment",
            resource_id=env.id,
            params={
                "action": action,
                "n8n_ids": [found[i].n8n_workflow_id for i in ids],
                "user_id": str(principal.user_id),
            },
            concurrency_key=f"{JOB_ACTIONS[action]}:{env.id}",
            user_id=principal.user_id,
        )
        result["job"] = job
    elif action == policy.LINK:
        canonicals.require(pairs.values())
        links.set_links(env.id, {found[i].n8n_workflow_id: c for i, c in pairs.items()})
    elif action == policy.UNLINK:
        links.set_links(env.id, {found[i].n8n_workflow_id: None for i in ids})
    else:
        _set_status(env.id, ids, ignored=action == policy.IGNORE)
    audit.record(
        f"workflow.{action}",
        resource_type="environment",
        resource_id=env.id,
        old={"statuses": before},
        new={"links": {str(i): str(c) for i, c in pairs.items()} or None, "count": len(ids)},
    )
    db.commit()
    result["workflows"] = _rows(env.id, ids)
    return result


def _lock(env_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, WorkflowEnvMap]:
    """The rows, locked against a sync changing them meanwhile; 404 if any is not here."""
    found = {
        row.id: row
        for row in db.scalars(
            select(WorkflowEnvMap)
            .where(WorkflowEnvMap.environment_id == env_id, WorkflowEnvMap.id.in_(ids))
            .with_for_update()
        )
    }
    absent = [str(i) for i in ids if i not in found]
    if absent:
        raise NotFound("No such workflow in this environment.", workflow_ids=absent)
    return found


def _check_states(
    action: str, ids: list[uuid.UUID], found: dict[uuid.UUID, WorkflowEnvMap]
) -> None:
    accepts = ACCEPTS[action]
    wrong = [
        {"workflow_id": str(i), "name": found[i].workflow_name, "status": found[i].status}
        for i in ids
        if found[i].status not in accepts or found[i].is_archived
    ]
    if wrong:
        raise Conflict(
            f"{action.replace('_', ' ').capitalize()} takes workflows that are "
            f"{' or '.join(accepts)} (and not archived); {len(wrong)} are not.",
            code="illegal_transition",
            workflows=wrong,
        )


def _set_status(env_id: uuid.UUID, ids: list[uuid.UUID], *, ignored: bool) -> None:
    """Ignore (kept across syncs) or unignore (back to untracked) many rows in one statement."""
    table = WorkflowEnvMap
    db.execute(
        update(table)
        .where(table.environment_id == env_id, table.id.in_(ids))
        .values(
            status="ignored"
            if ignored
            else case((table.missing_since.is_not(None), "missing"), else_="untracked"),
            updated_at=func.now(),
        )
    )


def _rows(env_id: uuid.UUID, ids: list[uuid.UUID]) -> list[WorkflowEnvMap]:
    return list(
        db.scalars(
            select(WorkflowEnvMap)
            .where(WorkflowEnvMap.environment_id == env_id, WorkflowEnvMap.id.in_(ids))
            .order_by(WorkflowEnvMap.workflow_name)
        )
    )
