"""Plans, features and limits (global); each tenant's subscription, plan and overrides."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSON, Base, TenantOwned, Timestamps, UUIDPrimaryKey, enum_check
from models.environments import PROVIDERS
from models.tenancy import SUBSCRIPTION_TIERS

PLAN_NAMES = SUBSCRIPTION_TIERS
FEATURE_TYPES = ("flag", "limit")
SUBSCRIPTION_STATUSES = ("active", "cancelled", "past_due")
GRACE_RESOURCE_TYPES = ("environment", "team_member")
GRACE_STATUSES = ("active", "completed", "cancelled")
GRACE_ACTIONS = ("read_only", "disable", "schedule_deletion")


class Provider(UUIDPrimaryKey, Timestamps, Base):
    """A workflow platform the control plane can manage (today only n8n)."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("name"),)

    name: Mapped[str] = mapped_column(String(50))
    display_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))


class ProviderPlan(UUIDPrimaryKey, Timestamps, Base):
    """A plan sold for one provider, with its Stripe prices."""

    __tablename__ = "provider_plans"
    __table_args__ = (
        UniqueConstraint("provider_id", "name"),
        enum_check("name", PLAN_NAMES),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(100))
    monthly_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    yearly_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    stripe_price_id_monthly: Mapped[str | None] = mapped_column(String(255))
    stripe_price_id_yearly: Mapped[str | None] = mapped_column(String(255))
    #: Marketing feature list for the pricing page; entitlements come from plan_features.
    features: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))


class Feature(Timestamps, Base):
    """A feature flag or limit that plans grant."""

    __tablename__ = "features"
    __table_args__ = (enum_check("feature_type", FEATURE_TYPES),)

    feature_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    feature_type: Mapped[str] = mapped_column(String(20))
    #: A JSON boolean (flag) or number (limit); NULL means no default.
    default_value: Mapped[Any | None] = mapped_column(JSONB(none_as_null=True))


class Plan(UUIDPrimaryKey, Timestamps, Base):
    """A plan tier; precedence orders tiers so a plan change can be told to be a downgrade."""

    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("name"),
        UniqueConstraint("precedence"),
        enum_check("name", PLAN_NAMES),
    )

    name: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(100))
    precedence: Mapped[int]


class PlanFeature(Timestamps, Base):
    """The value of one feature in one plan."""

    __tablename__ = "plan_features"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )
    feature_name: Mapped[str] = mapped_column(
        ForeignKey("features.feature_name", ondelete="CASCADE"), primary_key=True, index=True
    )
    #: A JSON boolean (flag) or number (limit, -1 = unlimited).
    feature_value: Mapped[Any] = mapped_column(JSONB)


class PlanFeatureRequirement(Timestamps, Base):
    """The cheapest plan that grants a feature, for upgrade hints."""

    __tablename__ = "plan_feature_requirements"

    feature_name: Mapped[str] = mapped_column(
        ForeignKey("features.feature_name", ondelete="CASCADE"), primary_key=True
    )
    # RESTRICT: deleting the plan would silently drop the requirement and ungate the feature.
    minimum_plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plans.id", ondelete="RESTRICT"), index=True
    )


class PlanLimit(UUIDPrimaryKey, Timestamps, Base):
    """A numeric limit of a plan (environments, team members, retention days, ...)."""

    __tablename__ = "plan_limits"
    __table_args__ = (
        UniqueConstraint("plan_id", "limit_name"),
        CheckConstraint("limit_value >= -1", name="limit_value_range"),
    )

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    limit_name: Mapped[str] = mapped_column(String(100))
    #: -1 means unlimited.
    limit_value: Mapped[int]


class TenantProviderSubscription(TenantOwned, Timestamps, Base):
    """A tenant's Stripe subscription to a provider's plan."""

    __tablename__ = "tenant_provider_subscriptions"
    __extra_args__ = (
        UniqueConstraint("tenant_id", "provider_id"),
        # Webhooks find the tenant by the Stripe subscription.
        UniqueConstraint("stripe_subscription_id"),
        enum_check("status", SUBSCRIPTION_STATUSES),
    )

    # RESTRICT: a provider or plan with subscribers is retired with is_active, never deleted.
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="RESTRICT"))
    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("provider_plans.id", ondelete="RESTRICT"), index=True
    )
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(server_default=text("false"))


class TenantPlan(Timestamps, Base):
    """The plan in force for a tenant and provider, synced from its subscription."""

    __tablename__ = "tenant_plans"
    __table_args__ = (enum_check("provider", PROVIDERS),)

    # Keyed by (tenant_id, provider) as the spec has it, so TenantOwned's id does not fit.
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    # RESTRICT: a plan in force for a tenant must not disappear from under it.
    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("plans.id", ondelete="RESTRICT"), index=True
    )
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))


class TenantFeatureOverride(TenantOwned, Timestamps, Base):
    """A platform admin's override of one feature for one tenant, optionally expiring."""

    __tablename__ = "tenant_feature_overrides"
    __extra_args__ = (
        # One override per feature, so resolving entitlements never has to pick between two.
        UniqueConstraint("tenant_id", "feature_name"),
    )

    feature_name: Mapped[str] = mapped_column(
        ForeignKey("features.feature_name", ondelete="CASCADE"), index=True
    )
    #: Same shape as plan_features.feature_value.
    override_value: Mapped[Any] = mapped_column(JSONB)
    #: Expired overrides are ignored when entitlements are resolved, not deleted.
    expires_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    # Platform admins set overrides; they are users of another tenant, so a tenant-scoped key
    # to users could not hold them.
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("platform_admins.user_id", ondelete="SET NULL")
    )


class DowngradeGracePeriod(TenantOwned, Timestamps, Base):
    """Time an over-limit resource keeps working after a downgrade, and what happens after."""

    __tablename__ = "downgrade_grace_periods"
    __extra_args__ = (
        # The hourly re-detection can run again without opening a second period.
        Index(
            "uq_downgrade_grace_periods_active_resource",
            "tenant_id",
            "resource_type",
            "resource_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        enum_check("resource_type", GRACE_RESOURCE_TYPES),
        enum_check("status", GRACE_STATUSES),
        enum_check("action", GRACE_ACTIONS),
    )

    resource_type: Mapped[str] = mapped_column(String(20))
    #: An environment or user id depending on resource_type, hence no foreign key.
    resource_id: Mapped[uuid.UUID]
    grace_period_days: Mapped[int]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    action: Mapped[str] = mapped_column(String(20))
    notified_at: Mapped[datetime | None]
