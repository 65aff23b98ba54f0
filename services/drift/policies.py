"""Drift policies: tenant-wide (environment_id NULL) or for one environment, which then replaces
the tenant-wide one as a whole. Without any, the columns' defaults apply: the defaults live in
one place, the table's server defaults, read here from the model.

    policy = policies.effective(env_id)         # Policy (frozen), never None
    policy.ttl_hours("high")                    # 48 unless severity_ttls says otherwise
    policies.severity_for(affected=6)           # "high" (system.md §4.2: 10 / 5 / 2)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select

from models.db import db
from models.drift import SEVERITIES, DriftPolicy
from services import audit, entitlements
from services.errors import InvalidInput, PolicyBlocked
from services.rows import flush_unique, get_or_404

#: Hours an incident has before it expires, by severity, unless the policy's severity_ttls
#: says otherwise (system.md §4.2).
DEFAULT_TTL_HOURS = {"critical": 24, "high": 48, "medium": 72, "low": 168}
#: Hours for a severity the table does not know.
FALLBACK_TTL_HOURS = 72
#: Affected workflows from which an automatically created incident has each severity.
SEVERITY_THRESHOLDS = (("critical", 10), ("high", 5), ("medium", 2))
#: Longest TTL a policy may give a severity: 90 days.
MAX_TTL_HOURS = 24 * 90

#: Policy fields a tenant sets. Not among them: block_on_active_drift (each environment's
#: drift_handling_mode decides blocking, spec Decision 1) and enforce_sla (no SLA escalation).
EDITABLE = (
    "severity_ttls",
    "enforce_ttl",
    "auto_create_incidents",
    "auto_create_for_production_only",
    "notify_on_detection",
    "expiration_warning_hours",
    "require_approval_for_acknowledge",
    "require_approval_for_extend_ttl",
    "require_approval_for_reconcile",
    "approval_expiry_hours",
    "prod_hotfix_keep_behavior",
    "check_interval_minutes",
    "closed_incident_retention_days",
    "reconciliation_artifact_retention_days",
    "approval_retention_days",
    "check_history_retention_days",
)


def _server_default(name: str) -> Any:
    """The column's server default as a Python value (the one source of the defaults)."""
    arg = DriftPolicy.__table__.c[name].server_default.arg
    text = str(getattr(arg, "text", arg)).strip("'")
    if text in ("true", "false"):
        return text == "true"
    if text.endswith("::jsonb"):
        return {}
    return int(text) if text.isdigit() else text


@dataclass(frozen=True)
class Policy:
    """The policy that governs an environment, with where it came from."""

    #: environment, tenant, or default (no policy row).
    scope: str
    id: uuid.UUID | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def ttl_hours(self, severity: str | None) -> int:
        ttls = self.values.get("severity_ttls") or {}
        value = ttls.get(severity or "")
        if isinstance(value, int) and 0 < value <= MAX_TTL_HOURS:
            return value
        return DEFAULT_TTL_HOURS.get(severity or "", FALLBACK_TTL_HOURS)

    def requires_approval(self, action: str) -> bool:
        """acknowledge, extend_ttl and reconcile may need an approved request."""
        return bool(self.values.get(f"require_approval_for_{action}", False))


DEFAULTS = {name: _server_default(name) for name in EDITABLE}


def _policy(row: DriftPolicy | None) -> Policy:
    if row is None:
        return Policy("default", None, dict(DEFAULTS))
    scope = "environment" if row.environment_id else "tenant"
    return Policy(scope, row.id, {name: getattr(row, name) for name in EDITABLE})


def effective(env_id: uuid.UUID) -> Policy:
    """The environment's own policy, else the tenant-wide one, else the defaults (one query)."""
    row = db.scalar(
        select(DriftPolicy)
        .where((DriftPolicy.environment_id == env_id) | DriftPolicy.environment_id.is_(None))
        .order_by(DriftPolicy.environment_id.nulls_last())
        .limit(1)
    )
    return _policy(row)


def effective_many(env_ids: list[uuid.UUID]) -> dict[uuid.UUID, Policy]:
    """Each environment's policy (one query)."""
    rows = db.scalars(
        select(DriftPolicy).where(
            DriftPolicy.environment_id.in_(env_ids) | DriftPolicy.environment_id.is_(None)
        )
    ).all()
    tenant = next((r for r in rows if r.environment_id is None), None)
    own = {r.environment_id: r for r in rows if r.environment_id is not None}
    return {env_id: _policy(own.get(env_id, tenant)) for env_id in env_ids}


def severity_for(affected: int) -> str:
    """The severity of an incident with ``affected`` drifted workflows (system.md §4.2)."""
    for severity, threshold in SEVERITY_THRESHOLDS:
        if affected >= threshold:
            return severity
    return "low"


# --- the policies, as a tenant manages them ------------------------------------------------------


def list_query() -> Select:
    return select(DriftPolicy).order_by(
        DriftPolicy.environment_id.nulls_first(), DriftPolicy.created_at
    )


def get(policy_id: uuid.UUID) -> DriftPolicy:
    return get_or_404(DriftPolicy, policy_id, "No such drift policy.")


def create(*, environment_id: uuid.UUID | None, **values: Any) -> DriftPolicy:
    """The tenant-wide policy (environment_id None) or one environment's; one of each."""
    _require_entitlement()
    if environment_id is not None:
        from services import environments

        environments.get(environment_id)
    _validate(values)
    row = DriftPolicy(environment_id=environment_id, **values)
    db.add(row)
    scope = "this environment" if environment_id else "the tenant"
    flush_unique(f"A drift policy for {scope} exists; change it instead.")
    audit.record(
        "drift_policy.create",
        resource_type="drift_policy",
        resource_id=row.id,
        new=_audited(row),
    )
    db.commit()
    return row


def update(policy_id: uuid.UUID, **values: Any) -> DriftPolicy:
    row = get(policy_id)
    _require_entitlement()
    _validate(values)
    before = _audited(row)
    for name, value in values.items():
        setattr(row, name, value)
    db.flush()
    audit.record(
        "drift_policy.update",
        resource_type="drift_policy",
        resource_id=row.id,
        old=before,
        new=_audited(row),
    )
    db.commit()
    return row


def delete(policy_id: uuid.UUID) -> None:
    row = get(policy_id)
    audit.record(
        "drift_policy.delete", resource_type="drift_policy", resource_id=row.id, old=_audited(row)
    )
    db.delete(row)
    db.commit()


def _audited(row: DriftPolicy) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in EDITABLE}
    values["environment_id"] = str(row.environment_id) if row.environment_id else None
    return values


def _validate(values: dict[str, Any]) -> None:
    ttls = values.get("severity_ttls")
    if ttls is None:
        return
    unknown = sorted(set(ttls) - set(SEVERITIES))
    bad = sorted(k for k, v in ttls.items() if not isinstance(v, int) or not 0 < v <= MAX_TTL_HOURS)
    if unknown or bad:
        raise InvalidInput(
            "severity_ttls maps critical, high, medium and low to hours between 1 and "
            f"{MAX_TTL_HOURS}.",
            code="invalid_severity_ttls",
            unknown=unknown,
            invalid=bad,
        )


def _require_entitlement() -> None:
    if not entitlements.resolve()["features"].get("drift_policies"):
        raise PolicyBlocked(
            "Drift policies are not part of your plan; upgrade to set them.",
            code="feature_not_entitled",
            feature="drift_policies",
        )
