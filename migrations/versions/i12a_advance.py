"""Promotions, continued (issue 12): placeholder credentials a promotion created in a target
(reused by later promotions, listed per deployed workflow), and the link from a promotion
opened automatically to the completed one of the previous stage (at most one per completion).

Revision ID: i12a_advance
Revises: i13a_rollups
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from migrations.helpers import protect_tenant_table, tenant_columns, tenant_fk

revision = "i12a_advance"
down_revision = "i13a_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = "placeholder_credentials"
    op.create_table(
        table,
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("credential_type", sa.String(200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("n8n_credential_id", sa.Text(), nullable=False),
        sa.Column("n8n_credential_name", sa.Text(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=True),
        *tenant_columns(table),
        tenant_fk(table, "environment_id", "environments", "CASCADE"),
        tenant_fk(table, "deployment_id", "deployments", "SET NULL"),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "credential_type",
            "name",
            name=op.f(f"uq_{table}_tenant_id_environment_id_credential_type_name"),
        ),
    )
    op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"])
    protect_tenant_table(table)

    op.add_column(
        "deployment_workflows",
        sa.Column(
            "placeholder_credentials",
            JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("promotions", sa.Column("advanced_from_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_promotions_advanced_from_id"),
        "promotions",
        "promotions",
        ["advanced_from_id", "tenant_id"],
        ["id", "tenant_id"],
        ondelete="SET NULL (advanced_from_id)",
    )
    op.create_index(
        "uq_promotions_advanced_from",
        "promotions",
        ["tenant_id", "advanced_from_id"],
        unique=True,
        postgresql_where=sa.text("advanced_from_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_promotions_advanced_from", table_name="promotions")
    op.drop_constraint(op.f("fk_promotions_advanced_from_id"), "promotions", type_="foreignkey")
    op.drop_column("promotions", "advanced_from_id")
    op.drop_column("deployment_workflows", "placeholder_credentials")
    op.drop_table("placeholder_credentials")
