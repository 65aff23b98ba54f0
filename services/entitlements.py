"""What a tenant's plan grants: features and limits are data (plans, plan_features,
tenant_feature_overrides), resolved here in one query and never hard-coded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from models.billing import Plan, TenantPlan
from models.db import current_tenant, db
from services.errors import PolicyBlocked

#: The plan a tenant without an active plan row is on.
DEFAULT_PLAN = "free"

_RESOLVE = text(
    """
    WITH plan AS (
        SELECT coalesce(
            (SELECT p.id FROM tenant_plans tp JOIN plans p ON p.id = tp.plan_id
             WHERE tp.provider = 'n8n' AND tp.is_active),
            (SELECT id FROM plans WHERE name = :default_plan)) AS id
    )
    SELECT p.name AS plan_name, pf.feature_name,
           coalesce(o.override_value, pf.feature_value) AS value,
           o.id IS NOT NULL AS overridden
    FROM plan JOIN plans p ON p.id = plan.id
    JOIN plan_features pf ON pf.plan_id = plan.id
    LEFT JOIN tenant_feature_overrides o
      ON o.feature_name = pf.feature_name AND (o.expires_at IS NULL OR o.expires_at > now())
    """
)


def resolve() -> dict[str, Any]:
    """{plan_name, features: {name: value}, overridden: [names]} for the current tenant."""
    rows = db.execute(_RESOLVE, {"default_plan": DEFAULT_PLAN}).all()
    return {
        "plan_name": rows[0].plan_name if rows else DEFAULT_PLAN,
        "features": {row.feature_name: row.value for row in rows},
        "overridden": sorted(row.feature_name for row in rows if row.overridden),
    }


def check_limit(entitlements: dict[str, Any], limit_name: str, current_count: int) -> None:
    """Refuse with 403 when ``current_count`` already reaches the plan's limit (-1: none);
    ``entitlements`` is what resolve() returned."""
    limit = entitlements["features"].get(limit_name)
    if limit is None or limit == -1 or current_count < limit:
        return
    raise PolicyBlocked(
        f"Your {entitlements['plan_name']} plan allows {limit}; upgrade to add more.",
        code="plan_limit_reached",
        limit_name=limit_name,
        limit=limit,
        plan=entitlements["plan_name"],
    )


def require_feature(feature: str, label: str) -> None:
    """Refuse with 403 unless the tenant's plan (or an override) grants ``feature``."""
    granted = resolve()
    if granted["features"].get(feature) is True:
        return
    raise PolicyBlocked(
        f"{label} are not part of your {granted['plan_name']} plan; upgrade to use them.",
        code="feature_not_entitled",
        feature=feature,
        plan=granted["plan_name"],
    )


def subscribe(plan_name: str) -> None:
    """Put the current tenant on ``plan_name`` (as its subscription's sync would); the caller
    commits."""
    plan_id = db.scalar(select(Plan.id).where(Plan.name == plan_name))
    db.merge(
        TenantPlan(tenant_id=current_tenant(), provider="n8n", plan_id=plan_id, is_active=True)
    )
