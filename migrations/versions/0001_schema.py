"""The whole schema of spec/database-schema.md, generated from models/ and checked by
`alembic check`.

Revision ID: 0001_schema
Revises:
Create Date: 2026-11-25 07:23:39.822532
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_schema"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "features",
        sa.Column("feature_name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("feature_type", sa.String(length=20), nullable=False),
        sa.Column(
            "default_value",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
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
        sa.CheckConstraint(
            "feature_type IN ('flag', 'limit')", name=op.f("ck_features_feature_type_values")
        ),
        sa.PrimaryKeyConstraint("feature_name", name=op.f("pk_features")),
    )
    op.create_table(
        "plans",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("precedence", sa.Integer(), nullable=False),
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
        sa.CheckConstraint(
            "name IN ('free', 'pro', 'agency', 'enterprise')", name=op.f("ck_plans_name_values")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("name", name=op.f("uq_plans_name")),
        sa.UniqueConstraint("precedence", name=op.f("uq_plans_precedence")),
    )
    op.create_table(
        "providers",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_providers_name")),
    )
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("subscription_tier", sa.String(length=20), server_default="free", nullable=False),
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
        sa.CheckConstraint(
            "subscription_tier IN ('free', 'pro', 'agency', 'enterprise')",
            name=op.f("ck_tenants_subscription_tier_values"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "workflow_policy_matrix",
        sa.Column("environment_class", sa.String(length=20), nullable=False),
        sa.Column("action_type", sa.String(length=50), nullable=False),
        sa.Column("policy", sa.String(length=20), nullable=False),
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
        sa.CheckConstraint(
            "environment_class IN ('dev', 'staging', 'production')",
            name=op.f("ck_workflow_policy_matrix_environment_class_values"),
        ),
        sa.CheckConstraint(
            "policy IN ('allowed', 'warning', 'blocked', 'requires_approval')",
            name=op.f("ck_workflow_policy_matrix_policy_values"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_policy_matrix")),
        sa.UniqueConstraint(
            "environment_class",
            "action_type",
            name=op.f("uq_workflow_policy_matrix_environment_class_action_type"),
        ),
    )
    op.create_table(
        "audit_logs",
        sa.Column("action_type", sa.String(length=100), nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_email", sa.String(length=320), nullable=True),
        sa.Column("impersonated_user_id", sa.Uuid(), nullable=True),
        sa.Column("impersonation_session_id", sa.Uuid(), nullable=True),
        sa.Column("resource_type", sa.String(length=100), nullable=True),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column(
            "old_value", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True
        ),
        sa.Column(
            "new_value", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("ip_address", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(length=20), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("provider IN ('n8n')", name=op.f("ck_audit_logs_provider_values")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_audit_logs_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_audit_logs_id_tenant_id")),
    )
    op.create_index(
        "ix_audit_logs_impersonation_session_id",
        "audit_logs",
        ["impersonation_session_id"],
        unique=False,
        postgresql_where=sa.text("impersonation_session_id IS NOT NULL"),
    )
    op.create_index(op.f("ix_audit_logs_tenant_id"), "audit_logs", ["tenant_id"], unique=False)
    op.create_index(
        "ix_audit_logs_tenant_id_created_at",
        "audit_logs",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "background_jobs",
        sa.Column("job_type", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("resource_type", sa.String(length=50), nullable=True),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column(
            "progress",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "job_type IN ('sync', 'promotion', 'deployment', 'onboarding')",
            name=op.f("ck_background_jobs_job_type_values"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_background_jobs_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_background_jobs_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_background_jobs")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_background_jobs_id_tenant_id")),
    )
    op.create_index(
        op.f("ix_background_jobs_tenant_id"), "background_jobs", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_background_jobs_tenant_id_status_created_at",
        "background_jobs",
        ["tenant_id", "status", "created_at"],
        unique=False,
    )
    op.create_table(
        "canonical_workflows",
        sa.Column("canonical_slug", sa.String(length=200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "workflow_definition",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("git_file_path", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(length=20), server_default="n8n", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "provider IN ('n8n')", name=op.f("ck_canonical_workflows_provider_values")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_canonical_workflows_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canonical_workflows")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_canonical_workflows_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "canonical_slug",
            name=op.f("uq_canonical_workflows_tenant_id_canonical_slug"),
        ),
    )
    op.create_index(
        op.f("ix_canonical_workflows_tenant_id"), "canonical_workflows", ["tenant_id"], unique=False
    )
    op.create_table(
        "downgrade_grace_periods",
        sa.Column("resource_type", sa.String(length=20), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("grace_period_days", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "action IN ('read_only', 'disable', 'schedule_deletion')",
            name=op.f("ck_downgrade_grace_periods_action_values"),
        ),
        sa.CheckConstraint(
            "resource_type IN ('environment', 'team_member')",
            name=op.f("ck_downgrade_grace_periods_resource_type_values"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'completed', 'cancelled')",
            name=op.f("ck_downgrade_grace_periods_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_downgrade_grace_periods_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downgrade_grace_periods")),
        sa.UniqueConstraint(
            "id", "tenant_id", name=op.f("uq_downgrade_grace_periods_id_tenant_id")
        ),
    )
    op.create_index(
        op.f("ix_downgrade_grace_periods_tenant_id"),
        "downgrade_grace_periods",
        ["tenant_id"],
        unique=False,
    )
    op.create_index(
        "uq_downgrade_grace_periods_active_resource",
        "downgrade_grace_periods",
        ["tenant_id", "resource_type", "resource_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "environment_types",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
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
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_environment_types_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environment_types")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_environment_types_id_tenant_id")),
        sa.UniqueConstraint("tenant_id", "slug", name=op.f("uq_environment_types_tenant_id_slug")),
    )
    op.create_index(
        op.f("ix_environment_types_tenant_id"), "environment_types", ["tenant_id"], unique=False
    )
    op.create_index(
        "uq_environment_types_tenant_id_default",
        "environment_types",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "notification_channels",
        sa.Column("channel_type", sa.String(length=20), nullable=False),
        sa.Column(
            "config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("secrets_encrypted", sa.Text(), nullable=True),
        sa.Column("is_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.CheckConstraint(
            "channel_type IN ('slack', 'email', 'webhook')",
            name=op.f("ck_notification_channels_channel_type_values"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notification_channels_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_channels")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_notification_channels_id_tenant_id")),
    )
    op.create_index(
        op.f("ix_notification_channels_tenant_id"),
        "notification_channels",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "notification_rules",
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column(
            "channel_ids",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notification_rules_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_rules")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_notification_rules_id_tenant_id")),
    )
    op.create_index(
        op.f("ix_notification_rules_tenant_id"), "notification_rules", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_notification_rules_tenant_id_event_type",
        "notification_rules",
        ["tenant_id", "event_type"],
        unique=False,
    )
    op.create_table(
        "pipelines",
        sa.Column("provider", sa.String(length=20), server_default="n8n", nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "stages",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.CheckConstraint("provider IN ('n8n')", name=op.f("ck_pipelines_provider_values")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_pipelines_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_pipelines_id_tenant_id")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_pipelines_tenant_id_name")),
    )
    op.create_index(op.f("ix_pipelines_tenant_id"), "pipelines", ["tenant_id"], unique=False)
    op.create_table(
        "plan_feature_requirements",
        sa.Column("feature_name", sa.String(length=100), nullable=False),
        sa.Column("minimum_plan_id", sa.Uuid(), nullable=False),
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
            ["feature_name"],
            ["features.feature_name"],
            name=op.f("fk_plan_feature_requirements_feature_name"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["minimum_plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_feature_requirements_minimum_plan_id"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("feature_name", name=op.f("pk_plan_feature_requirements")),
    )
    op.create_index(
        op.f("ix_plan_feature_requirements_minimum_plan_id"),
        "plan_feature_requirements",
        ["minimum_plan_id"],
        unique=False,
    )
    op.create_table(
        "plan_features",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("feature_name", sa.String(length=100), nullable=False),
        sa.Column("feature_value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
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
            ["feature_name"],
            ["features.feature_name"],
            name=op.f("fk_plan_features_feature_name"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_features_plan_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("plan_id", "feature_name", name=op.f("pk_plan_features")),
    )
    op.create_index(
        op.f("ix_plan_features_feature_name"), "plan_features", ["feature_name"], unique=False
    )
    op.create_table(
        "plan_limits",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("limit_name", sa.String(length=100), nullable=False),
        sa.Column("limit_value", sa.Integer(), nullable=False),
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
        sa.CheckConstraint("limit_value >= -1", name=op.f("ck_plan_limits_limit_value_range")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_limits_plan_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_limits")),
        sa.UniqueConstraint(
            "plan_id", "limit_name", name=op.f("uq_plan_limits_plan_id_limit_name")
        ),
    )
    op.create_table(
        "provider_plans",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("monthly_price", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("yearly_price", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("stripe_price_id_monthly", sa.String(length=255), nullable=True),
        sa.Column("stripe_price_id_yearly", sa.String(length=255), nullable=True),
        sa.Column(
            "features",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.CheckConstraint(
            "name IN ('free', 'pro', 'agency', 'enterprise')",
            name=op.f("ck_provider_plans_name_values"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_plans_provider_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_plans")),
        sa.UniqueConstraint("provider_id", "name", name=op.f("uq_provider_plans_provider_id_name")),
    )
    op.create_table(
        "tenant_plans",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.CheckConstraint("provider IN ('n8n')", name=op.f("ck_tenant_plans_provider_values")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_tenant_plans_plan_id"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_plans_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "provider", name=op.f("pk_tenant_plans")),
    )
    op.create_index(op.f("ix_tenant_plans_plan_id"), "tenant_plans", ["plan_id"], unique=False)
    op.create_table(
        "users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("supabase_auth_id", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=20), server_default="viewer", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.CheckConstraint(
            "role IN ('viewer', 'developer', 'admin')", name=op.f("ck_users_role_values")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_users_id_tenant_id")),
        sa.UniqueConstraint("supabase_auth_id", name=op.f("uq_users_supabase_auth_id")),
        sa.UniqueConstraint("tenant_id", "email", name=op.f("uq_users_tenant_id_email")),
    )
    op.create_index(op.f("ix_users_tenant_id"), "users", ["tenant_id"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("display_prefix", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_tokens_tenant_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_api_tokens_user_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_api_tokens_id_tenant_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_tenant_id"), "api_tokens", ["tenant_id"], unique=False)
    op.create_index(
        "ix_api_tokens_tenant_id_user_id_created_at",
        "api_tokens",
        ["tenant_id", "user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "environments",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=20), server_default="n8n", nullable=False),
        sa.Column("environment_class", sa.String(length=20), nullable=False),
        sa.Column("drift_handling_mode", sa.String(length=30), nullable=False),
        sa.Column("environment_type_id", sa.Uuid(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("api_key_encrypted", sa.Text(), nullable=True),
        sa.Column("github_repo_url", sa.Text(), nullable=True),
        sa.Column("github_token_encrypted", sa.Text(), nullable=True),
        sa.Column("github_branch", sa.String(length=255), nullable=True),
        sa.Column("git_folder", sa.String(length=255), nullable=True),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drift_status", sa.String(length=20), server_default="UNKNOWN", nullable=False),
        sa.Column("last_drift_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_drift_detected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_drift_incident_id", sa.Uuid(), nullable=True),
        sa.Column("is_read_only", sa.Boolean(), server_default=sa.text("false"), nullable=False),
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
        sa.CheckConstraint(
            "drift_handling_mode IN ('warn_only', 'manual_override', 'require_attestation')",
            name=op.f("ck_environments_drift_handling_mode_values"),
        ),
        sa.CheckConstraint(
            "drift_status IN ('UNKNOWN', 'NEW', 'IN_SYNC', 'DRIFT_DETECTED', 'GIT_UNAVAILABLE', 'ERROR', 'DEPLOY_MISSING', 'UNMANAGED')",
            name=op.f("ck_environments_drift_status_values"),
        ),
        sa.CheckConstraint(
            "environment_class IN ('dev', 'staging', 'production')",
            name=op.f("ck_environments_environment_class_values"),
        ),
        sa.CheckConstraint("provider IN ('n8n')", name=op.f("ck_environments_provider_values")),
        sa.ForeignKeyConstraint(
            ["environment_type_id", "tenant_id"],
            ["environment_types.id", "environment_types.tenant_id"],
            name=op.f("fk_environments_environment_type_id"),
            ondelete="SET NULL (environment_type_id)",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_environments_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environments")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_environments_id_tenant_id")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_environments_tenant_id_name")),
    )
    op.create_index(op.f("ix_environments_tenant_id"), "environments", ["tenant_id"], unique=False)
    op.create_table(
        "platform_admins",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_platform_admins_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_platform_admins")),
    )
    op.create_table(
        "platform_impersonation_sessions",
        sa.Column("actor_user_id", sa.Uuid(), nullable=False),
        sa.Column("impersonated_user_id", sa.Uuid(), nullable=False),
        sa.Column("impersonated_tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip_address", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_platform_impersonation_sessions_actor_user_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["impersonated_tenant_id"],
            ["tenants.id"],
            name=op.f("fk_platform_impersonation_sessions_impersonated_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["impersonated_user_id", "impersonated_tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_platform_impersonation_sessions_impersonated_user_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_impersonation_sessions")),
    )
    op.create_index(
        op.f("ix_platform_impersonation_sessions_impersonated_tenant_id"),
        "platform_impersonation_sessions",
        ["impersonated_tenant_id"],
        unique=False,
    )
    op.create_index(
        "uq_platform_impersonation_sessions_active_actor",
        "platform_impersonation_sessions",
        ["actor_user_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "tenant_provider_subscriptions",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "cancel_at_period_end", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
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
        sa.CheckConstraint(
            "status IN ('active', 'cancelled', 'past_due')",
            name=op.f("ck_tenant_provider_subscriptions_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["provider_plans.id"],
            name=op.f("fk_tenant_provider_subscriptions_plan_id"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_tenant_provider_subscriptions_provider_id"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_provider_subscriptions_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_provider_subscriptions")),
        sa.UniqueConstraint(
            "id", "tenant_id", name=op.f("uq_tenant_provider_subscriptions_id_tenant_id")
        ),
        sa.UniqueConstraint(
            "stripe_subscription_id",
            name=op.f("uq_tenant_provider_subscriptions_stripe_subscription_id"),
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "provider_id",
            name=op.f("uq_tenant_provider_subscriptions_tenant_id_provider_id"),
        ),
    )
    op.create_index(
        op.f("ix_tenant_provider_subscriptions_plan_id"),
        "tenant_provider_subscriptions",
        ["plan_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tenant_provider_subscriptions_tenant_id"),
        "tenant_provider_subscriptions",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "credentials",
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("n8n_credential_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column(
            "shared_with_projects",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "used_by_workflows",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
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
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_credentials_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_credentials_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_credentials_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "n8n_credential_id",
            name=op.f("uq_credentials_tenant_id_environment_id_n8n_credential_id"),
        ),
    )
    op.create_index(op.f("ix_credentials_tenant_id"), "credentials", ["tenant_id"], unique=False)
    op.create_table(
        "drift_check_history",
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("check_type", sa.String(length=20), nullable=False),
        sa.Column("drift_status", sa.String(length=20), nullable=True),
        sa.Column("drift_found", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("workflows_checked", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "workflows_with_drift", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("check_duration_ms", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "checked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "check_type IN ('scheduled', 'manual')",
            name=op.f("ck_drift_check_history_check_type_values"),
        ),
        sa.CheckConstraint(
            "drift_status IN ('UNKNOWN', 'NEW', 'IN_SYNC', 'DRIFT_DETECTED', 'GIT_UNAVAILABLE', 'ERROR', 'DEPLOY_MISSING', 'UNMANAGED')",
            name=op.f("ck_drift_check_history_drift_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_drift_check_history_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_drift_check_history_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_check_history")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_drift_check_history_id_tenant_id")),
    )
    op.create_index(
        op.f("ix_drift_check_history_tenant_id"), "drift_check_history", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_drift_check_history_tenant_id_environment_id_checked_at",
        "drift_check_history",
        ["tenant_id", "environment_id", "checked_at"],
        unique=False,
    )
    op.create_table(
        "drift_incidents",
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="detected", nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column(
            "summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "detected_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stabilized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detected_by", sa.Uuid(), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("stabilized_by", sa.Uuid(), nullable=True),
        sa.Column("reconciled_by", sa.Uuid(), nullable=True),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.Column("owner_user_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ticket_ref", sa.String(length=200), nullable=True),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ttl_warning_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "affected_workflows",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "drift_snapshot",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
        sa.Column("resolution_type", sa.String(length=20), nullable=True),
        sa.Column(
            "resolution_details",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
        sa.Column("payload_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "resolution_type IN ('promote', 'revert', 'replace', 'acknowledge')",
            name=op.f("ck_drift_incidents_resolution_type_values"),
        ),
        sa.CheckConstraint(
            "severity IN ('critical', 'high', 'medium', 'low')",
            name=op.f("ck_drift_incidents_severity_values"),
        ),
        sa.CheckConstraint(
            "status IN ('detected', 'acknowledged', 'stabilized', 'reconciled', 'closed')",
            name=op.f("ck_drift_incidents_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_drift_incidents_acknowledged_by"),
            ondelete="SET NULL (acknowledged_by)",
        ),
        sa.ForeignKeyConstraint(
            ["closed_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_drift_incidents_closed_by"),
            ondelete="SET NULL (closed_by)",
        ),
        sa.ForeignKeyConstraint(
            ["detected_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_drift_incidents_detected_by"),
            ondelete="SET NULL (detected_by)",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_drift_incidents_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_drift_incidents_owner_user_id"),
            ondelete="SET NULL (owner_user_id)",
        ),
        sa.ForeignKeyConstraint(
            ["reconciled_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_drift_incidents_reconciled_by"),
            ondelete="SET NULL (reconciled_by)",
        ),
        sa.ForeignKeyConstraint(
            ["stabilized_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_drift_incidents_stabilized_by"),
            ondelete="SET NULL (stabilized_by)",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_drift_incidents_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_incidents")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_drift_incidents_id_tenant_id")),
    )
    op.create_index(
        "ix_drift_incidents_active_expires_at",
        "drift_incidents",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status <> 'closed' AND NOT is_deleted AND expired_at IS NULL"),
    )
    op.create_index(
        op.f("ix_drift_incidents_tenant_id"), "drift_incidents", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_drift_incidents_tenant_id_environment_id_status",
        "drift_incidents",
        ["tenant_id", "environment_id", "status"],
        unique=False,
    )
    op.create_index(
        "uq_drift_incidents_active_environment",
        "drift_incidents",
        ["tenant_id", "environment_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'closed' AND NOT is_deleted"),
    )
    op.create_table(
        "drift_policies",
        sa.Column("environment_id", sa.Uuid(), nullable=True),
        sa.Column(
            "severity_ttls",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("enforce_ttl", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("enforce_sla", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "auto_create_incidents", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column(
            "auto_create_for_production_only",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
        ),
        sa.Column(
            "block_on_active_drift", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column(
            "notify_on_detection", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column(
            "expiration_warning_hours", sa.Integer(), server_default=sa.text("24"), nullable=False
        ),
        sa.Column(
            "require_approval_for_acknowledge",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
        sa.Column(
            "require_approval_for_extend_ttl",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
        ),
        sa.Column(
            "require_approval_for_reconcile",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
        ),
        sa.Column(
            "approval_expiry_hours", sa.Integer(), server_default=sa.text("72"), nullable=False
        ),
        sa.Column(
            "prod_hotfix_keep_behavior",
            sa.String(length=20),
            server_default="force_update_dev",
            nullable=False,
        ),
        sa.Column(
            "closed_incident_retention_days",
            sa.Integer(),
            server_default=sa.text("365"),
            nullable=False,
        ),
        sa.Column(
            "reconciliation_artifact_retention_days",
            sa.Integer(),
            server_default=sa.text("180"),
            nullable=False,
        ),
        sa.Column(
            "approval_retention_days", sa.Integer(), server_default=sa.text("365"), nullable=False
        ),
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
        sa.CheckConstraint(
            "prod_hotfix_keep_behavior IN ('force_update_dev', 'no_dev_update')",
            name=op.f("ck_drift_policies_prod_hotfix_keep_behavior_values"),
        ),
        sa.ForeignKeyConstraint(
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_drift_policies_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_drift_policies_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_policies")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_drift_policies_id_tenant_id")),
    )
    op.create_index(
        op.f("ix_drift_policies_tenant_id"), "drift_policies", ["tenant_id"], unique=False
    )
    op.create_index(
        "uq_drift_policies_environment",
        "drift_policies",
        ["tenant_id", "environment_id"],
        unique=True,
        postgresql_where=sa.text("environment_id IS NOT NULL"),
    )
    op.create_index(
        "uq_drift_policies_tenant_wide",
        "drift_policies",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("environment_id IS NULL"),
    )
    op.create_table(
        "executions",
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), server_default="n8n", nullable=False),
        sa.Column("n8n_execution_id", sa.Text(), nullable=False),
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("workflow_name", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("normalized_status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("execution_time", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_node", sa.Text(), nullable=True),
        sa.Column("mode", sa.Text(), nullable=True),
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
        sa.CheckConstraint(
            "normalized_status IN ('success', 'error', 'running', 'waiting')",
            name=op.f("ck_executions_normalized_status_values"),
        ),
        sa.CheckConstraint("provider IN ('n8n')", name=op.f("ck_executions_provider_values")),
        sa.ForeignKeyConstraint(
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_executions_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_executions_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_executions_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "n8n_execution_id",
            name=op.f("uq_executions_tenant_id_environment_id_n8n_execution_id"),
        ),
    )
    op.create_index(op.f("ix_executions_tenant_id"), "executions", ["tenant_id"], unique=False)
    op.create_index(
        "ix_executions_tenant_id_environment_id_started_at",
        "executions",
        ["tenant_id", "environment_id", "started_at"],
        unique=False,
    )
    op.create_index(
        "ix_executions_tenant_id_workflow_id_started_at",
        "executions",
        ["tenant_id", "workflow_id", "started_at"],
        unique=False,
    )
    op.create_table(
        "snapshots",
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("snapshot_type", sa.String(length=20), nullable=False),
        sa.Column(
            "workflows",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("git_commit_sha", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "snapshot_type IN ('pre_promotion', 'post_promotion', 'manual_backup')",
            name=op.f("ck_snapshots_snapshot_type_values"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_snapshots_created_by"),
            ondelete="SET NULL (created_by)",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_snapshots_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_snapshots_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_snapshots_id_tenant_id")),
    )
    op.create_index(op.f("ix_snapshots_tenant_id"), "snapshots", ["tenant_id"], unique=False)
    op.create_index(
        "ix_snapshots_tenant_id_environment_id_created_at",
        "snapshots",
        ["tenant_id", "environment_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "support_tickets",
        sa.Column("ticket_type", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column("priority", sa.String(length=20), server_default="medium", nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("assigned_to", sa.Uuid(), nullable=True),
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
        sa.CheckConstraint(
            "priority IN ('low', 'medium', 'high', 'urgent')",
            name=op.f("ck_support_tickets_priority_values"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'resolved', 'closed')",
            name=op.f("ck_support_tickets_status_values"),
        ),
        sa.CheckConstraint(
            "ticket_type IN ('bug', 'feature', 'help')",
            name=op.f("ck_support_tickets_ticket_type_values"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"],
            ["platform_admins.user_id"],
            name=op.f("fk_support_tickets_assigned_to"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_support_tickets_created_by"),
            ondelete="SET NULL (created_by)",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_support_tickets_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_support_tickets_id_tenant_id")),
    )
    op.create_index(
        op.f("ix_support_tickets_tenant_id"), "support_tickets", ["tenant_id"], unique=False
    )
    op.create_table(
        "tenant_feature_overrides",
        sa.Column("feature_name", sa.String(length=100), nullable=False),
        sa.Column("override_value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
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
            ["created_by"],
            ["platform_admins.user_id"],
            name=op.f("fk_tenant_feature_overrides_created_by"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["feature_name"],
            ["features.feature_name"],
            name=op.f("fk_tenant_feature_overrides_feature_name"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_feature_overrides_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_feature_overrides")),
        sa.UniqueConstraint(
            "id", "tenant_id", name=op.f("uq_tenant_feature_overrides_id_tenant_id")
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "feature_name",
            name=op.f("uq_tenant_feature_overrides_tenant_id_feature_name"),
        ),
    )
    op.create_index(
        op.f("ix_tenant_feature_overrides_feature_name"),
        "tenant_feature_overrides",
        ["feature_name"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tenant_feature_overrides_tenant_id"),
        "tenant_feature_overrides",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "workflow_env_map",
        sa.Column("canonical_id", sa.Uuid(), nullable=True),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("n8n_workflow_id", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="untracked", nullable=False),
        sa.Column("env_content_hash", sa.String(length=64), nullable=True),
        sa.Column("git_content_hash", sa.String(length=64), nullable=True),
        sa.Column("n8n_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workflow_name", sa.Text(), nullable=True),
        sa.Column(
            "workflow_data",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
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
        sa.CheckConstraint(
            "status IN ('linked', 'untracked', 'missing', 'ignored', 'deleted')",
            name=op.f("ck_workflow_env_map_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["canonical_id", "tenant_id"],
            ["canonical_workflows.id", "canonical_workflows.tenant_id"],
            name=op.f("fk_workflow_env_map_canonical_id"),
            ondelete="SET NULL (canonical_id)",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_workflow_env_map_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_workflow_env_map_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_env_map")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_workflow_env_map_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "n8n_workflow_id",
            name=op.f("uq_workflow_env_map_tenant_id_environment_id_n8n_workflow_id"),
        ),
    )
    op.create_index(
        op.f("ix_workflow_env_map_tenant_id"), "workflow_env_map", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_workflow_env_map_tenant_id_environment_id_status",
        "workflow_env_map",
        ["tenant_id", "environment_id", "status"],
        unique=False,
    )
    op.create_index(
        "uq_workflow_env_map_canonical_environment",
        "workflow_env_map",
        ["tenant_id", "canonical_id", "environment_id"],
        unique=True,
        postgresql_where=sa.text("canonical_id IS NOT NULL"),
    )
    op.create_table(
        "workflow_git_state",
        sa.Column("canonical_id", sa.Uuid(), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=True),
        sa.Column("git_path", sa.Text(), nullable=False),
        sa.Column("last_commit_sha", sa.String(length=64), nullable=True),
        sa.Column("git_content_hash", sa.String(length=64), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
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
            ["canonical_id", "tenant_id"],
            ["canonical_workflows.id", "canonical_workflows.tenant_id"],
            name=op.f("fk_workflow_git_state_canonical_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_workflow_git_state_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_workflow_git_state_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_git_state")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_workflow_git_state_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "canonical_id",
            "environment_id",
            name=op.f("uq_workflow_git_state_tenant_id_canonical_id_environment_id"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(
        op.f("ix_workflow_git_state_tenant_id"), "workflow_git_state", ["tenant_id"], unique=False
    )
    op.create_table(
        "workflows",
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("n8n_workflow_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "workflow_data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_archived", sa.Boolean(), server_default=sa.text("false"), nullable=False),
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
            ["environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_workflows_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workflows_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_workflows_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "environment_id",
            "n8n_workflow_id",
            name=op.f("uq_workflows_tenant_id_environment_id_n8n_workflow_id"),
        ),
    )
    op.create_index(op.f("ix_workflows_tenant_id"), "workflows", ["tenant_id"], unique=False)
    op.create_table(
        "credential_health",
        sa.Column("credential_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "last_checked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
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
        sa.CheckConstraint(
            "status IN ('healthy', 'warning', 'error')",
            name=op.f("ck_credential_health_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["credential_id", "tenant_id"],
            ["credentials.id", "credentials.tenant_id"],
            name=op.f("fk_credential_health_credential_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_credential_health_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_health")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_credential_health_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id", "credential_id", name=op.f("uq_credential_health_tenant_id_credential_id")
        ),
    )
    op.create_index(
        op.f("ix_credential_health_tenant_id"), "credential_health", ["tenant_id"], unique=False
    )
    op.create_table(
        "drift_approvals",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("approval_type", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        sa.Column("request_reason", sa.Text(), nullable=True),
        sa.Column("review_notes", sa.Text(), nullable=True),
        sa.Column("ttl_extension_hours", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_by", sa.Uuid(), nullable=True),
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
        sa.CheckConstraint(
            "approval_type IN ('acknowledge', 'extend_ttl', 'close', 'reconcile', 'deployment_override')",
            name=op.f("ck_drift_approvals_approval_type_values"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'cancelled')",
            name=op.f("ck_drift_approvals_status_values"),
        ),
        sa.CheckConstraint(
            "reviewed_by <> requested_by", name=op.f("ck_drift_approvals_reviewer_not_requester")
        ),
        sa.ForeignKeyConstraint(
            ["executed_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_drift_approvals_executed_by"),
            ondelete="SET NULL (executed_by)",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id", "tenant_id"],
            ["drift_incidents.id", "drift_incidents.tenant_id"],
            name=op.f("fk_drift_approvals_incident_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_drift_approvals_requested_by"),
            ondelete="SET NULL (requested_by)",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_drift_approvals_reviewed_by"),
            ondelete="SET NULL (reviewed_by)",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_drift_approvals_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_approvals")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_drift_approvals_id_tenant_id")),
    )
    op.create_index(
        op.f("ix_drift_approvals_tenant_id"), "drift_approvals", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_drift_approvals_tenant_id_incident_id",
        "drift_approvals",
        ["tenant_id", "incident_id"],
        unique=False,
    )
    op.create_index(
        "uq_drift_approvals_pending_type",
        "drift_approvals",
        ["tenant_id", "incident_id", "approval_type"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "promotions",
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("source_environment_id", sa.Uuid(), nullable=False),
        sa.Column("target_environment_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column(
            "workflow_selections",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "gate_results",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
        sa.Column("source_snapshot_id", sa.Uuid(), nullable=True),
        sa.Column("target_pre_snapshot_id", sa.Uuid(), nullable=True),
        sa.Column("target_post_snapshot_id", sa.Uuid(), nullable=True),
        sa.Column(
            "execution_result",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
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
        sa.CheckConstraint(
            "status IN ('pending', 'pending_approval', 'approved', 'rejected', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_promotions_status_values"),
        ),
        sa.CheckConstraint(
            "source_environment_id <> target_environment_id",
            name=op.f("ck_promotions_distinct_environments"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_promotions_approved_by"),
            ondelete="SET NULL (approved_by)",
        ),
        sa.ForeignKeyConstraint(
            ["created_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_promotions_created_by"),
            ondelete="SET NULL (created_by)",
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id", "tenant_id"],
            ["pipelines.id", "pipelines.tenant_id"],
            name=op.f("fk_promotions_pipeline_id"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_promotions_source_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_snapshot_id", "tenant_id"],
            ["snapshots.id", "snapshots.tenant_id"],
            name=op.f("fk_promotions_source_snapshot_id"),
            ondelete="SET NULL (source_snapshot_id)",
        ),
        sa.ForeignKeyConstraint(
            ["target_environment_id", "tenant_id"],
            ["environments.id", "environments.tenant_id"],
            name=op.f("fk_promotions_target_environment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_post_snapshot_id", "tenant_id"],
            ["snapshots.id", "snapshots.tenant_id"],
            name=op.f("fk_promotions_target_post_snapshot_id"),
            ondelete="SET NULL (target_post_snapshot_id)",
        ),
        sa.ForeignKeyConstraint(
            ["target_pre_snapshot_id", "tenant_id"],
            ["snapshots.id", "snapshots.tenant_id"],
            name=op.f("fk_promotions_target_pre_snapshot_id"),
            ondelete="SET NULL (target_pre_snapshot_id)",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_promotions_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_promotions_id_tenant_id")),
    )
    op.create_index(op.f("ix_promotions_tenant_id"), "promotions", ["tenant_id"], unique=False)
    op.create_index(
        "ix_promotions_tenant_id_pipeline_id",
        "promotions",
        ["tenant_id", "pipeline_id"],
        unique=False,
    )
    op.create_index(
        "ix_promotions_tenant_id_source_environment_id",
        "promotions",
        ["tenant_id", "source_environment_id"],
        unique=False,
    )
    op.create_index(
        "ix_promotions_tenant_id_target_environment_id",
        "promotions",
        ["tenant_id", "target_environment_id"],
        unique=False,
    )
    op.create_index(
        "uq_promotions_running_target",
        "promotions",
        ["tenant_id", "target_environment_id"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "reconciliation_artifacts",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("artifact_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column(
            "artifact_data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
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
        sa.CheckConstraint(
            "artifact_type IN ('snapshot', 'diff', 'script')",
            name=op.f("ck_reconciliation_artifacts_artifact_type_values"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'in_progress', 'success', 'failed')",
            name=op.f("ck_reconciliation_artifacts_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id", "tenant_id"],
            ["drift_incidents.id", "drift_incidents.tenant_id"],
            name=op.f("fk_reconciliation_artifacts_incident_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_reconciliation_artifacts_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_artifacts")),
        sa.UniqueConstraint(
            "id", "tenant_id", name=op.f("uq_reconciliation_artifacts_id_tenant_id")
        ),
    )
    op.create_index(
        op.f("ix_reconciliation_artifacts_tenant_id"),
        "reconciliation_artifacts",
        ["tenant_id"],
        unique=False,
    )
    op.create_index(
        "ix_reconciliation_artifacts_tenant_id_incident_id",
        "reconciliation_artifacts",
        ["tenant_id", "incident_id"],
        unique=False,
    )
    op.create_table(
        "deployments",
        sa.Column("promotion_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "summary_json",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
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
        sa.CheckConstraint(
            "status <> 'scheduled' OR scheduled_for IS NOT NULL",
            name=op.f("ck_deployments_scheduled_for_required"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'scheduled', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_deployments_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_deployments_created_by"),
            ondelete="SET NULL (created_by)",
        ),
        sa.ForeignKeyConstraint(
            ["promotion_id", "tenant_id"],
            ["promotions.id", "promotions.tenant_id"],
            name=op.f("fk_deployments_promotion_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_deployments_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_deployments_id_tenant_id")),
    )
    op.create_index(
        "ix_deployments_scheduled_due",
        "deployments",
        ["status", "scheduled_for"],
        unique=False,
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_index(op.f("ix_deployments_tenant_id"), "deployments", ["tenant_id"], unique=False)
    op.create_index(
        "ix_deployments_tenant_id_created_at",
        "deployments",
        ["tenant_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_deployments_tenant_id_promotion_id",
        "deployments",
        ["tenant_id", "promotion_id"],
        unique=False,
    )
    op.create_table(
        "deployment_workflows",
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Text(), nullable=False),
        sa.Column("workflow_name", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "status IN ('pending', 'success', 'failed', 'skipped', 'unchanged')",
            name=op.f("ck_deployment_workflows_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id", "tenant_id"],
            ["deployments.id", "deployments.tenant_id"],
            name=op.f("fk_deployment_workflows_deployment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_deployment_workflows_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_workflows")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_deployment_workflows_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "deployment_id",
            "workflow_id",
            name=op.f("uq_deployment_workflows_tenant_id_deployment_id_workflow_id"),
        ),
    )
    op.create_index(
        op.f("ix_deployment_workflows_tenant_id"),
        "deployment_workflows",
        ["tenant_id"],
        unique=False,
    )
    # environments and drift_incidents point at each other: this side is added last.
    op.create_foreign_key(
        op.f("fk_environments_active_drift_incident_id"),
        "environments",
        "drift_incidents",
        ["active_drift_incident_id", "tenant_id"],
        ["id", "tenant_id"],
        ondelete="SET NULL (active_drift_incident_id)",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_environments_active_drift_incident_id"), "environments", type_="foreignkey"
    )
    op.drop_index(op.f("ix_deployment_workflows_tenant_id"), table_name="deployment_workflows")
    op.drop_table("deployment_workflows")
    op.drop_index("ix_deployments_tenant_id_promotion_id", table_name="deployments")
    op.drop_index("ix_deployments_tenant_id_created_at", table_name="deployments")
    op.drop_index(op.f("ix_deployments_tenant_id"), table_name="deployments")
    op.drop_index(
        "ix_deployments_scheduled_due",
        table_name="deployments",
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.drop_table("deployments")
    op.drop_index(
        "ix_reconciliation_artifacts_tenant_id_incident_id", table_name="reconciliation_artifacts"
    )
    op.drop_index(
        op.f("ix_reconciliation_artifacts_tenant_id"), table_name="reconciliation_artifacts"
    )
    op.drop_table("reconciliation_artifacts")
    op.drop_index(
        "uq_promotions_running_target",
        table_name="promotions",
        postgresql_where=sa.text("status = 'running'"),
    )
    op.drop_index("ix_promotions_tenant_id_target_environment_id", table_name="promotions")
    op.drop_index("ix_promotions_tenant_id_source_environment_id", table_name="promotions")
    op.drop_index("ix_promotions_tenant_id_pipeline_id", table_name="promotions")
    op.drop_index(op.f("ix_promotions_tenant_id"), table_name="promotions")
    op.drop_table("promotions")
    op.drop_index(
        "uq_drift_approvals_pending_type",
        table_name="drift_approvals",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_drift_approvals_tenant_id_incident_id", table_name="drift_approvals")
    op.drop_index(op.f("ix_drift_approvals_tenant_id"), table_name="drift_approvals")
    op.drop_table("drift_approvals")
    op.drop_index(op.f("ix_credential_health_tenant_id"), table_name="credential_health")
    op.drop_table("credential_health")
    op.drop_index(op.f("ix_workflows_tenant_id"), table_name="workflows")
    op.drop_table("workflows")
    op.drop_index(op.f("ix_workflow_git_state_tenant_id"), table_name="workflow_git_state")
    op.drop_table("workflow_git_state")
    op.drop_index(
        "uq_workflow_env_map_canonical_environment",
        table_name="workflow_env_map",
        postgresql_where=sa.text("canonical_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_workflow_env_map_tenant_id_environment_id_status", table_name="workflow_env_map"
    )
    op.drop_index(op.f("ix_workflow_env_map_tenant_id"), table_name="workflow_env_map")
    op.drop_table("workflow_env_map")
    op.drop_index(
        op.f("ix_tenant_feature_overrides_tenant_id"), table_name="tenant_feature_overrides"
    )
    op.drop_index(
        op.f("ix_tenant_feature_overrides_feature_name"), table_name="tenant_feature_overrides"
    )
    op.drop_table("tenant_feature_overrides")
    op.drop_index(op.f("ix_support_tickets_tenant_id"), table_name="support_tickets")
    op.drop_table("support_tickets")
    op.drop_index("ix_snapshots_tenant_id_environment_id_created_at", table_name="snapshots")
    op.drop_index(op.f("ix_snapshots_tenant_id"), table_name="snapshots")
    op.drop_table("snapshots")
    op.drop_index("ix_executions_tenant_id_workflow_id_started_at", table_name="executions")
    op.drop_index("ix_executions_tenant_id_environment_id_started_at", table_name="executions")
    op.drop_index(op.f("ix_executions_tenant_id"), table_name="executions")
    op.drop_table("executions")
    op.drop_index(
        "uq_drift_policies_tenant_wide",
        table_name="drift_policies",
        postgresql_where=sa.text("environment_id IS NULL"),
    )
    op.drop_index(
        "uq_drift_policies_environment",
        table_name="drift_policies",
        postgresql_where=sa.text("environment_id IS NOT NULL"),
    )
    op.drop_index(op.f("ix_drift_policies_tenant_id"), table_name="drift_policies")
    op.drop_table("drift_policies")
    op.drop_index(
        "uq_drift_incidents_active_environment",
        table_name="drift_incidents",
        postgresql_where=sa.text("status <> 'closed' AND NOT is_deleted"),
    )
    op.drop_index(
        "ix_drift_incidents_tenant_id_environment_id_status", table_name="drift_incidents"
    )
    op.drop_index(op.f("ix_drift_incidents_tenant_id"), table_name="drift_incidents")
    op.drop_index(
        "ix_drift_incidents_active_expires_at",
        table_name="drift_incidents",
        postgresql_where=sa.text("status <> 'closed' AND NOT is_deleted AND expired_at IS NULL"),
    )
    op.drop_table("drift_incidents")
    op.drop_index(
        "ix_drift_check_history_tenant_id_environment_id_checked_at",
        table_name="drift_check_history",
    )
    op.drop_index(op.f("ix_drift_check_history_tenant_id"), table_name="drift_check_history")
    op.drop_table("drift_check_history")
    op.drop_index(op.f("ix_credentials_tenant_id"), table_name="credentials")
    op.drop_table("credentials")
    op.drop_index(
        op.f("ix_tenant_provider_subscriptions_tenant_id"),
        table_name="tenant_provider_subscriptions",
    )
    op.drop_index(
        op.f("ix_tenant_provider_subscriptions_plan_id"), table_name="tenant_provider_subscriptions"
    )
    op.drop_table("tenant_provider_subscriptions")
    op.drop_index(
        "uq_platform_impersonation_sessions_active_actor",
        table_name="platform_impersonation_sessions",
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.drop_index(
        op.f("ix_platform_impersonation_sessions_impersonated_tenant_id"),
        table_name="platform_impersonation_sessions",
    )
    op.drop_table("platform_impersonation_sessions")
    op.drop_table("platform_admins")
    op.drop_index(op.f("ix_environments_tenant_id"), table_name="environments")
    op.drop_table("environments")
    op.drop_index("ix_api_tokens_tenant_id_user_id_created_at", table_name="api_tokens")
    op.drop_index(op.f("ix_api_tokens_tenant_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_users_tenant_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_tenant_plans_plan_id"), table_name="tenant_plans")
    op.drop_table("tenant_plans")
    op.drop_table("provider_plans")
    op.drop_table("plan_limits")
    op.drop_index(op.f("ix_plan_features_feature_name"), table_name="plan_features")
    op.drop_table("plan_features")
    op.drop_index(
        op.f("ix_plan_feature_requirements_minimum_plan_id"), table_name="plan_feature_requirements"
    )
    op.drop_table("plan_feature_requirements")
    op.drop_index(op.f("ix_pipelines_tenant_id"), table_name="pipelines")
    op.drop_table("pipelines")
    op.drop_index("ix_notification_rules_tenant_id_event_type", table_name="notification_rules")
    op.drop_index(op.f("ix_notification_rules_tenant_id"), table_name="notification_rules")
    op.drop_table("notification_rules")
    op.drop_index(op.f("ix_notification_channels_tenant_id"), table_name="notification_channels")
    op.drop_table("notification_channels")
    op.drop_index(
        "uq_environment_types_tenant_id_default",
        table_name="environment_types",
        postgresql_where=sa.text("is_default"),
    )
    op.drop_index(op.f("ix_environment_types_tenant_id"), table_name="environment_types")
    op.drop_table("environment_types")
    op.drop_index(
        "uq_downgrade_grace_periods_active_resource",
        table_name="downgrade_grace_periods",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_index(
        op.f("ix_downgrade_grace_periods_tenant_id"), table_name="downgrade_grace_periods"
    )
    op.drop_table("downgrade_grace_periods")
    op.drop_index(op.f("ix_canonical_workflows_tenant_id"), table_name="canonical_workflows")
    op.drop_table("canonical_workflows")
    op.drop_index("ix_background_jobs_tenant_id_status_created_at", table_name="background_jobs")
    op.drop_index(op.f("ix_background_jobs_tenant_id"), table_name="background_jobs")
    op.drop_table("background_jobs")
    op.drop_index("ix_audit_logs_tenant_id_created_at", table_name="audit_logs")
    op.drop_index(op.f("ix_audit_logs_tenant_id"), table_name="audit_logs")
    op.drop_index(
        "ix_audit_logs_impersonation_session_id",
        table_name="audit_logs",
        postgresql_where=sa.text("impersonation_session_id IS NOT NULL"),
    )
    op.drop_table("audit_logs")
    op.drop_table("workflow_policy_matrix")
    op.drop_table("tenants")
    op.drop_table("providers")
    op.drop_table("plans")
    op.drop_table("features")
