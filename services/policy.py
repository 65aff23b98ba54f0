"""The environment action guard (system.md §4.8, and §4.1 for unmanaged workflows): one policy
table, ``workflow_policy_matrix`` (environment class x action -> allowed | warning | blocked |
requires_approval, the least role where allowed, the rule in words), seeded by migration, and
the tenant's own setting of its policy flags (``workflow_policy_overrides``).

Every write path asks ``guard(env, action, principal)`` (or ``enforce``, which raises):

    decision = policy.enforce(env, policy.RESTORE, principal)   # PolicyBlocked (403) if refused
    decision.warnings                                           # show them with the result

A refusal says the class, the action and the rule (403 ``action_blocked``, or
``approval_required``); a role the rule asks for (production inbound: admin) is part of the
same decision. State problems (unlinking a workflow that is not linked) are 409s raised by the
services themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.configuration import WorkflowPolicyMatrix, WorkflowPolicyOverride
from models.db import db
from models.environments import Environment
from services import audit
from services.errors import InvalidInput, NotFound, PolicyBlocked
from services.identity import Principal

REFRESH = "refresh"
DIFF = "diff"
BACKUP = "backup"
MANUAL_SNAPSHOT = "manual_snapshot"
DEPLOY_OUTBOUND = "deploy_outbound"
DEPLOY_INBOUND = "deploy_inbound"
RESTORE = "restore"
EDIT_IN_N8N = "edit_in_n8n"
LINK = "link"
CREATE_CANONICAL = "create_canonical"
SNAPSHOT_ONLY = "snapshot_only"
IGNORE = "ignore"
UNIGNORE = "unignore"
UNLINK = "unlink"
#: Drift resolution: the running version becomes the approved one (system.md §4.2, row 17).
KEEP_HOTFIX = "keep_hotfix"
#: Turning a workflow on or off in n8n through the platform (system.md §2 row 19).
ACTIVATE = "activate"

ACTIONS = (
    REFRESH,
    DIFF,
    BACKUP,
    MANUAL_SNAPSHOT,
    DEPLOY_OUTBOUND,
    DEPLOY_INBOUND,
    RESTORE,
    EDIT_IN_N8N,
    LINK,
    CREATE_CANONICAL,
    SNAPSHOT_ONLY,
    IGNORE,
    UNIGNORE,
    UNLINK,
    KEEP_HOTFIX,
    ACTIVATE,
)


@dataclass(frozen=True)
class Decision:
    """What the guard decided for one action in one environment."""

    allowed: bool
    environment_class: str
    action: str
    #: allowed, warning, blocked or requires_approval (after the tenant's flags).
    policy: str
    #: The rule, in words: shown with every refusal and warning.
    rule: str
    #: Why it was refused (None when allowed).
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    minimum_role: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "environment_class": self.environment_class,
            "action": self.action,
            "policy": self.policy,
            "rule": self.rule,
            "reason": self.reason,
            "warnings": list(self.warnings),
            "minimum_role": self.minimum_role,
        }


_EFFECTIVE = (
    select(
        WorkflowPolicyMatrix.environment_class,
        WorkflowPolicyMatrix.action_type,
        func.coalesce(WorkflowPolicyOverride.policy, WorkflowPolicyMatrix.policy).label("policy"),
        WorkflowPolicyMatrix.policy.label("default_policy"),
        WorkflowPolicyMatrix.minimum_role,
        WorkflowPolicyMatrix.tenant_configurable,
        WorkflowPolicyMatrix.rule,
    )
    .select_from(WorkflowPolicyMatrix)
    # RLS keeps the join to the current tenant's flags.
    .outerjoin(
        WorkflowPolicyOverride,
        (WorkflowPolicyOverride.environment_class == WorkflowPolicyMatrix.environment_class)
        & (WorkflowPolicyOverride.action_type == WorkflowPolicyMatrix.action_type)
        & WorkflowPolicyMatrix.tenant_configurable,
    )
)


def guard(env: Environment, action: str, principal: Principal | None) -> Decision:
    """Decide whether ``principal`` may take ``action`` in ``env``.

    ``principal`` None is a job acting for a user whose role was checked when it started: the
    class rules apply, the role rule does not. An action missing from the table is refused
    (fail closed)."""
    row = db.execute(
        _EFFECTIVE.where(
            WorkflowPolicyMatrix.environment_class == env.environment_class,
            WorkflowPolicyMatrix.action_type == action,
        )
    ).one_or_none()
    return _judge(env.environment_class, action, row, principal)


def guard_every_action(env: Environment, principal: Principal | None) -> list[Decision]:
    """``guard`` of each of ACTIONS in ``env``, from one read of its class's rules."""
    rows = db.execute(
        _EFFECTIVE.where(WorkflowPolicyMatrix.environment_class == env.environment_class)
    ).all()
    by_action = {row.action_type: row for row in rows}
    return [
        _judge(env.environment_class, action, by_action.get(action), principal)
        for action in ACTIONS
    ]


def _judge(env_class: str, action: str, row, principal: Principal | None) -> Decision:
    """The decision for ``action`` under its effective rule ``row`` (None: no rule)."""
    if row is None:
        return Decision(
            False, env_class, action, "blocked", "No rule covers this action: refused.",
            reason=f"{action} has no rule for {env_class} environments.",
        )  # fmt: skip
    decide = _decision(env_class, action, row.policy, row.rule, row.minimum_role)
    if row.policy in ("blocked", "requires_approval"):
        reason = (
            f"{_label(action)} is not allowed in {env_class} environments: {row.rule}"
            if row.policy == "blocked"
            else f"{_label(action)} in {env_class} environments needs an approval: {row.rule}"
        )
        return decide(False, reason=reason)
    if row.minimum_role and principal is not None and not principal.has_role(row.minimum_role):
        return decide(
            False,
            reason=f"{_label(action)} in {env_class} environments takes the "
            f"{row.minimum_role} role: {row.rule}",
        )
    warnings = (f"{_label(action)} in {env_class}: {row.rule}",) if row.policy == "warning" else ()
    return decide(True, warnings=warnings)


def enforce(env: Environment, action: str, principal: Principal | None) -> Decision:
    """``guard``, raising PolicyBlocked (403) with the class, action and rule when refused."""
    decision = guard(env, action, principal)
    if not decision.allowed:
        raise PolicyBlocked(
            decision.reason or "Refused by the environment action guard.",
            code="approval_required"
            if decision.policy == "requires_approval"
            else "action_blocked",
            environment_id=str(env.id),
            environment_class=decision.environment_class,
            action=decision.action,
            policy=decision.policy,
            rule=decision.rule,
            required_role=decision.minimum_role,
        )
    return decision


def _decision(env_class: str, action: str, policy: str, rule: str, minimum_role: str | None):
    def make(allowed: bool, *, reason: str | None = None, warnings: tuple[str, ...] = ()):
        return Decision(allowed, env_class, action, policy, rule, reason, warnings, minimum_role)

    return make


def _label(action: str) -> str:
    return action.replace("_", " ").capitalize()


# --- the table, as a tenant sees it ---------------------------------------------------------


def matrix() -> list[dict[str, Any]]:
    """Every rule with the tenant's flags applied, by action then class."""
    rows = db.execute(
        _EFFECTIVE.order_by(
            WorkflowPolicyMatrix.action_type, WorkflowPolicyMatrix.environment_class
        )
    ).all()
    return [dict(row._mapping) for row in rows]


def set_flag(environment_class: str, action: str, *, enabled: bool) -> dict[str, Any]:
    """Turn a policy flag on (allowed) or off (back to the seeded policy); audited."""
    row = db.execute(
        _EFFECTIVE.where(
            WorkflowPolicyMatrix.environment_class == environment_class,
            WorkflowPolicyMatrix.action_type == action,
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such rule.")
    if not row.tenant_configurable:
        raise InvalidInput(
            f"{_label(action)} in {environment_class} environments is fixed: {row.rule}",
            code="policy_not_configurable",
        )
    policy = "allowed" if enabled else row.default_policy
    db.execute(
        pg_insert(WorkflowPolicyOverride)
        .values(environment_class=environment_class, action_type=action, policy=policy)
        .on_conflict_do_update(
            index_elements=["tenant_id", "environment_class", "action_type"],
            set_={"policy": policy, "updated_at": func.now()},
        )
    )
    audit.record(
        "workflow_policy.update",
        resource_type="workflow_policy",
        resource_id=f"{environment_class}:{action}",
        old={"policy": row.policy},
        new={"policy": policy},
    )
    db.commit()
    return next(
        r
        for r in matrix()
        if r["environment_class"] == environment_class and r["action_type"] == action
    )
