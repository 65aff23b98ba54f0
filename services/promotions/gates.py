"""Validation: every gate of a stage evaluated at once, before anything changes (Decision 5).
The report lists every blocking error and every warning; errors block, warnings do not.

Gates: the target's drift gate (fails closed), credentials resolvable in the target (mapping
or same type and name), sub-workflow references resolvable, node types the target knows,
target healthy, risk at most the stage's maximum, the environment action guard (outbound
from the source, inbound to the target), the schedule window, and the policy flags (hotfixes,
conflicts, placeholder credentials)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text

from models.db import db
from services import policy
from services.drift import gate as drift_gate
from services.identity import Principal
from services.promotions.pipelines import RISK_LEVELS, in_window
from services.promotions.plan import Item, Plan

GATES = (
    "drift",
    "credentials",
    "references",
    "nodes",
    "health",
    "risk",
    "guard",
    "window",
    "policy",
)
#: Connection states of the target that block a promotion into it.
UNHEALTHY = ("unreachable", "auth_error", "error")

_KNOWN_NODE_TYPES = text("""
    SELECT DISTINCT node ->> 'type' FROM workflow_env_map m
     CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(m.workflow_data -> 'nodes')
           WHEN 'array' THEN m.workflow_data -> 'nodes' ELSE '[]' END) AS node
     WHERE m.environment_id = :env_id AND m.status <> 'deleted'
""")


@dataclass
class GateReport:
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    drift: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return not self.errors

    def add(self, gate: str, code: str, message: str, *, blocking: bool = True, **more) -> None:
        entry = {"gate": gate, "code": code, "message": message, **more}
        (self.errors if blocking else self.warnings).append(entry)
        if blocking:
            self.checks[gate] = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "errors": self.errors,
            "warnings": self.warnings,
            "checks": self.checks,
            "drift": self.drift,
        }


def validate(
    plan: Plan, stage: dict[str, Any], *, principal: Principal | None, at: datetime
) -> GateReport:
    """Run every gate of ``stage`` for ``plan`` as ``principal`` at time ``at``."""
    report = GateReport(checks=dict.fromkeys(GATES, True))
    _environment_gates(report, plan, stage, principal, at)
    known = _known_types(plan) if stage["gates"]["nodes_supported_in_target"] else None
    writing = plan.writing()
    if not writing:
        report.add(
            "policy", "nothing_to_promote", "Every selected workflow is unchanged.", blocking=False
        )
    for item in writing:
        _item_gates(report, item, stage, known)
    return report


def _environment_gates(report, plan, stage, principal, at) -> None:
    if stage["gates"]["require_clean_drift"]:
        verdict = drift_gate.evaluate(plan.target.id)
        report.drift = verdict.as_dict() | {"environment_id": str(verdict.environment_id)}
        if verdict.blocked:
            incident = str(verdict.incident_id) if verdict.incident_id else None
            message = " ".join(verdict.reasons) or "Drift blocks promotions into it."
            report.add("drift", "drift_blocked", message, incident_id=incident)
    _guard(report, plan, principal)
    window = stage.get("schedule_window")
    if not in_window(window, at):
        report.add(
            "window",
            "outside_window",
            f"{at.isoformat()} is outside the stage's window ({', '.join(window['weekdays'])} "
            f"{window['start']}-{window['end']} {window['timezone']}).",
        )
    target = plan.target
    if stage["gates"]["target_environment_healthy"] and target.connection_status in UNHEALTHY:
        report.add(
            "health",
            "target_unhealthy",
            f"{target.name} is {target.connection_status}: {target.connection_error or '-'}.",
        )


def _item_gates(report: GateReport, item: Item, stage: dict, known: set[str] | None) -> None:
    gates, flags = stage["gates"], stage["policy"]
    about = {"canonical_id": str(item.canonical_id), "workflow": item.name}
    if item.status == "target_hotfix" and not flags["allow_overwriting_hotfixes"]:
        message = (
            f"{item.name}: the target was changed since its approved copy; "
            "allow overwriting hotfixes to replace it."
        )
        report.add("policy", "target_hotfix", message, **about)
    if item.status == "conflict" and not flags["allow_force_promotion_on_conflicts"]:
        message = (
            f"{item.name}: both the source and the target changed; "
            "allow forcing on conflicts to replace the target's."
        )
        report.add("policy", "conflict", message, **about)
    limit = gates["max_allowed_risk_level"]
    # The highest limit admits every level: no structured diff needed to know it passes.
    if limit != RISK_LEVELS[-1] and RISK_LEVELS.index(item.risk) > RISK_LEVELS.index(limit):
        message = f"{item.name}: risk {item.risk} is above the stage's maximum {limit}."
        report.add("risk", "risk_too_high", message, **about)
    for problem in item.unresolved:
        where = {"reference": problem.reference, "node": problem.node, **about}
        if problem.kind != "credential":
            report.add("references", "workflow_reference_missing", problem.message, **where)
        elif gates["credentials_exist_in_target"]:
            placeholder = flags["allow_placeholder_credentials"]
            message = problem.message + (
                " (a placeholder credential stands in; deployed inactive)" if placeholder else ""
            )
            report.add(
                "credentials", "credential_missing", message, blocking=not placeholder, **where
            )
    if known is not None:
        unknown = sorted({str(n.get("type")) for n in item.file.nodes} - known)
        if unknown:
            message = (
                f"{item.name}: node types no workflow of the target uses yet "
                f"(check its n8n version has them): {', '.join(unknown)}."
            )
            report.add(
                "nodes", "node_type_unseen", message, blocking=False, node_types=unknown, **about
            )


def _guard(report: GateReport, plan: Plan, principal: Principal | None) -> None:
    for env, action in (
        (plan.source, policy.DEPLOY_OUTBOUND),
        (plan.target, policy.DEPLOY_INBOUND),
    ):
        decision = policy.guard(env, action, principal)
        if not decision.allowed:
            report.add(
                "guard",
                "action_blocked",
                decision.reason or decision.rule,
                environment_id=str(env.id),
                action=action,
                required_role=decision.minimum_role,
            )
        for warning in decision.warnings:
            report.add("guard", "action_warning", warning, blocking=False)


def _known_types(plan: Plan) -> set[str] | None:
    """Node types the target's workflows use; None when it has none to learn from."""
    found = set(db.scalars(_KNOWN_NODE_TYPES, {"env_id": plan.target.id}))
    return found or None
