"""Promotions (issue 12): logical credentials and their mapping per environment, promotion
approvals (1-of-N or all), the job that carries out each deployment, what a deployment
promoted (for rollback and for the reaper), and the clock's scan for due scheduled deployments.

Revision ID: i12_promotions
Revises: i8b_identity
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from migrations.helpers import (
    create_definer_function,
    drop_definer_function,
    grant_definer,
    protect_tenant_table,
    revoke_definer,
    roles,
)

revision = "i12_promotions"
down_revision = "i8b_identity"
branch_labels = None
depends_on = None

DEFINER_FUNCTIONS = {
    # The clock's scan: scheduled deployments whose time has come (5 s skew tolerated).
    "deployments_due(integer)": """
        RETURNS TABLE (tenant_id uuid, deployment_id uuid, scheduled_for timestamptz)
        LANGUAGE sql STABLE AS $$
            SELECT tenant_id, id, scheduled_for FROM deployments
             WHERE status = 'scheduled' AND NOT is_deleted
               AND scheduled_for <= now() + interval '5 seconds'
             ORDER BY scheduled_for LIMIT $1
        $$""",
}


#: (environment class, policy, minimum role) of toggling a workflow's active state in n8n
#: through the platform (system.md §2 row 19).
ACTIVATE = (
    ("dev", "allowed", None),
    ("staging", "allowed", None),
    ("production", "allowed", "admin"),
)
ACTIVATE_RULE = (
    "Turning a workflow on or off changes what runs: anyone who manages workflows may in dev "
    "and staging; production takes an admin."
)


def _base(table: str) -> list:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f(f"uq_{table}_id_tenant_id")),
    ]


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    if ondelete == "SET NULL":
        ondelete = f"SET NULL ({column})"
    return sa.ForeignKeyConstraint(
        [column, "tenant_id"],
        [f"{target}.id", f"{target}.tenant_id"],
        name=op.f(f"fk_{table}_{column}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "logical_credentials",
        sa.Column("credential_type", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        *_base("logical_credentials"),
        sa.UniqueConstraint(
            "tenant_id",
            "credential_type",
            "name",
            name=op.f("uq_logical_credentials_tenant_id_credential_type_name"),
        ),
    )
    op.create_index(op.f("ix_logical_credentials_tenant_id"), "logical_credentials", ["tenant_id"])
    protect_tenant_table("logical_credentials")
    op.create_table(
        "credential_mappings",
        sa.Column("logical_credential_id", sa.Uuid(), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("n8n_credential_type", sa.String(200), nullable=False),
        sa.Column("n8n_credential_name", sa.String(200), nullable=False),
        *_base("credential_mappings"),
        _fk("credential_mappings", "logical_credential_id", "logical_credentials", "CASCADE"),
        _fk("credential_mappings", "environment_id", "environments", "CASCADE"),
        sa.UniqueConstraint(
            "tenant_id",
            "logical_credential_id",
            "environment_id",
            name=op.f("uq_credential_mappings_tenant_id_logical_credential_id_environment_id"),
        ),
    )
    op.create_index(
        "ix_credential_mappings_tenant_id_environment_id",
        "credential_mappings",
        ["tenant_id", "environment_id"],
    )
    op.create_index(op.f("ix_credential_mappings_tenant_id"), "credential_mappings", ["tenant_id"])
    protect_tenant_table("credential_mappings")
    op.create_table(
        "promotion_approvals",
        sa.Column("promotion_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text()),
        *_base("promotion_approvals"),
        _fk("promotion_approvals", "promotion_id", "promotions", "CASCADE"),
        _fk("promotion_approvals", "user_id", "users", "SET NULL"),
        sa.CheckConstraint(
            "decision IN ('approved', 'rejected')",
            name=op.f("ck_promotion_approvals_decision_values"),
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "promotion_id",
            "user_id",
            name=op.f("uq_promotion_approvals_tenant_id_promotion_id_user_id"),
        ),
    )
    op.create_index(op.f("ix_promotion_approvals_tenant_id"), "promotion_approvals", ["tenant_id"])
    protect_tenant_table("promotion_approvals")

    op.add_column(
        "promotions", sa.Column("stage_index", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("deployments", sa.Column("job_id", sa.Uuid()))
    op.add_column("deployments", sa.Column("rollback_job_id", sa.Uuid()))
    op.add_column("deployment_workflows", sa.Column("canonical_id", sa.Uuid()))
    op.add_column("deployment_workflows", sa.Column("target_n8n_id", sa.Text()))
    op.add_column("deployment_workflows", sa.Column("action", sa.String(20)))
    op.add_column("deployment_workflows", sa.Column("rollback_status", sa.String(20)))
    op.create_index(
        "ix_deployments_tenant_id_job_id", "deployments", ["tenant_id", "job_id"], unique=False
    )
    _, definer = roles()
    op.execute(f"GRANT SELECT ON deployments TO {definer}")
    grant_definer("deployments")
    for signature, body in DEFINER_FUNCTIONS.items():
        create_definer_function(signature, body)
    matrix = sa.table(
        "workflow_policy_matrix",
        sa.column("environment_class", sa.String),
        sa.column("action_type", sa.String),
        sa.column("policy", sa.String),
        sa.column("minimum_role", sa.String),
        sa.column("rule", sa.Text),
    )
    op.bulk_insert(
        matrix,
        [
            {
                "environment_class": env_class,
                "action_type": "activate",
                "policy": policy,
                "minimum_role": role,
                "rule": ACTIVATE_RULE,
            }
            for env_class, policy, role in ACTIVATE
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM workflow_policy_matrix WHERE action_type = 'activate'")
    for signature in DEFINER_FUNCTIONS:
        drop_definer_function(signature)
    revoke_definer("deployments")
    op.execute(f"REVOKE SELECT ON deployments FROM {roles()[1]}")
    op.drop_index("ix_deployments_tenant_id_job_id", table_name="deployments")
    for column in ("canonical_id", "target_n8n_id", "action", "rollback_status"):
        op.drop_column("deployment_workflows", column)
    for column in ("job_id", "rollback_job_id"):
        op.drop_column("deployments", column)
    op.drop_column("promotions", "stage_index")
    op.drop_table("promotion_approvals")
    op.drop_index("ix_credential_mappings_tenant_id_environment_id", "credential_mappings")
    op.drop_table("credential_mappings")
    op.drop_table("logical_credentials")
