"""Seed providers, plans, features and limits: plan rules are data, never constants in code.

Values from the spec's plan matrix and its Decisions: environments free 2 / pro 10 / agency
and enterprise unlimited (-1); team members 3 / 10 / unlimited / unlimited; precedence
free 0 < pro 1 < agency 2 < enterprise 3.

Revision ID: 0003_seed_plans
Revises: 0002_tenancy_security
Create Date: 2026-11-25
"""

import uuid

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_seed_plans"
down_revision = "0002_tenancy_security"
branch_labels = None
depends_on = None

#: Stable ids, so later migrations and fixtures can name a plan without a lookup.
NAMESPACE = uuid.UUID("5b0c2f7e-8e52-4f0c-9a39-0b8a1d7f7a10")
PLANS = (
    ("free", "Free", 0),
    ("pro", "Pro", 1),
    ("agency", "Agency", 2),
    ("enterprise", "Enterprise", 3),
)

#: flag name -> (display name, value per plan in PLANS order)
FLAGS = {
    "snapshots_enabled": ("Snapshots", (False, True, True, True)),
    "promotions_enabled": ("Promotions", (False, True, True, True)),
    "workflow_ci_cd": ("Pipelines and deployments", (False, True, True, True)),
    "canonical_workflows_enabled": ("Git-backed canonical workflows", (True, True, True, True)),
    "drift_detection_enabled": ("Drift detection", (True, True, True, True)),
    "drift_full_diff": ("Full drift diffs", (False, False, True, True)),
    "drift_incidents": ("Drift incidents", (False, False, True, True)),
    "drift_policies": ("Drift policies", (False, False, True, True)),
    "drift_ttl_sla": ("Drift TTL and SLA", (False, False, True, True)),
    "health_checks_enabled": ("Health checks", (True, True, True, True)),
    "alerts_enabled": ("Alert rules", (False, True, True, True)),
}

#: limit name -> (display name, value per plan in PLANS order; -1 = unlimited)
LIMITS = {
    "environment_limits": ("Environments", (2, 10, -1, -1)),
    "team_member_limits": ("Team members", (3, 10, -1, -1)),
    "audit_log_retention_days": ("Audit log retention (days)", (0, 90, 180, -1)),
    "execution_retention_days": ("Execution retention (days)", (7, 7, 7, 7)),
}


def plan_id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"plan:{name}")


providers = sa.table(
    "providers",
    sa.column("id", sa.Uuid),
    sa.column("name", sa.String),
    sa.column("display_name", sa.String),
    sa.column("description", sa.Text),
)
provider_plans = sa.table(
    "provider_plans",
    sa.column("provider_id", sa.Uuid),
    sa.column("name", sa.String),
    sa.column("display_name", sa.String),
)
plans = sa.table(
    "plans",
    sa.column("id", sa.Uuid),
    sa.column("name", sa.String),
    sa.column("display_name", sa.String),
    sa.column("precedence", sa.Integer),
)
features = sa.table(
    "features",
    sa.column("feature_name", sa.String),
    sa.column("display_name", sa.String),
    sa.column("feature_type", sa.String),
    sa.column("default_value", JSONB),
)
plan_features = sa.table(
    "plan_features",
    sa.column("plan_id", sa.Uuid),
    sa.column("feature_name", sa.String),
    sa.column("feature_value", JSONB),
)
plan_limits = sa.table(
    "plan_limits",
    sa.column("plan_id", sa.Uuid),
    sa.column("limit_name", sa.String),
    sa.column("limit_value", sa.Integer),
)
plan_feature_requirements = sa.table(
    "plan_feature_requirements",
    sa.column("feature_name", sa.String),
    sa.column("minimum_plan_id", sa.Uuid),
)


def upgrade() -> None:
    n8n = uuid.uuid5(NAMESPACE, "provider:n8n")
    op.bulk_insert(
        providers,
        [{"id": n8n, "name": "n8n", "display_name": "n8n", "description": "n8n instances"}],
    )
    op.bulk_insert(
        plans,
        [
            {"id": plan_id(name), "name": name, "display_name": display, "precedence": rank}
            for name, display, rank in PLANS
        ],
    )
    op.bulk_insert(
        provider_plans,
        [{"provider_id": n8n, "name": name, "display_name": display} for name, display, _ in PLANS],
    )
    op.bulk_insert(
        features,
        [
            {
                "feature_name": name,
                "display_name": display,
                "feature_type": "flag",
                "default_value": values[0],
            }
            for name, (display, values) in FLAGS.items()
        ]
        + [
            {
                "feature_name": name,
                "display_name": display,
                "feature_type": "limit",
                "default_value": values[0],
            }
            for name, (display, values) in LIMITS.items()
        ],
    )
    op.bulk_insert(
        plan_features,
        [
            {"plan_id": plan_id(plan), "feature_name": name, "feature_value": values[i]}
            for name, (_, values) in {**FLAGS, **LIMITS}.items()
            for i, (plan, _, _) in enumerate(PLANS)
        ],
    )
    op.bulk_insert(
        plan_limits,
        [
            {"plan_id": plan_id(plan), "limit_name": name, "limit_value": values[i]}
            for name, (_, values) in LIMITS.items()
            for i, (plan, _, _) in enumerate(PLANS)
        ],
    )
    op.bulk_insert(
        plan_feature_requirements,
        [
            {"feature_name": name, "minimum_plan_id": plan_id(PLANS[values.index(True)][0])}
            for name, (_, values) in FLAGS.items()
        ],
    )


def downgrade() -> None:
    for table in (
        "plan_feature_requirements",
        "plan_limits",
        "plan_features",
        "features",
        "provider_plans",
        "plans",
        "providers",
    ):
        op.execute(f"DELETE FROM {table}")
