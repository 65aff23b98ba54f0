"""Tenant-defined environment types and the global action policy per environment class."""

from __future__ import annotations

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned, Timestamps, UUIDPrimaryKey, enum_check
from models.environments import ENVIRONMENT_CLASSES
from models.tenancy import ROLES

POLICIES = ("allowed", "warning", "blocked", "requires_approval")


class EnvironmentType(TenantOwned, Timestamps, Base):
    """A tenant's own label for a kind of environment (e.g. "QA"), offered when creating one."""

    __tablename__ = "environment_types"
    __extra_args__ = (
        UniqueConstraint("tenant_id", "slug"),
        Index(
            "uq_environment_types_tenant_id_default",
            "tenant_id",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(server_default=text("false"))


class WorkflowPolicyMatrix(UUIDPrimaryKey, Timestamps, Base):
    """Whether an action on workflows is allowed, warned, blocked or approval-gated per class."""

    __tablename__ = "workflow_policy_matrix"
    __table_args__ = (
        UniqueConstraint("environment_class", "action_type"),
        enum_check("environment_class", ENVIRONMENT_CLASSES),
        enum_check("policy", POLICIES),
        enum_check("minimum_role", ROLES),
    )

    environment_class: Mapped[str] = mapped_column(String(20))
    action_type: Mapped[str] = mapped_column(String(50))
    policy: Mapped[str] = mapped_column(String(20))
    #: The least role that may take the action where it is allowed (e.g. admin for production
    #: inbound deploys); NULL: whatever role the endpoint itself needs.
    minimum_role: Mapped[str | None] = mapped_column(String(20))
    #: A "policy flag": a tenant admin may switch the action between blocked and allowed.
    tenant_configurable: Mapped[bool] = mapped_column(server_default=text("false"))
    #: Why, in a sentence shown with every refusal and warning.
    rule: Mapped[str] = mapped_column(Text, server_default="")


class WorkflowPolicyOverride(TenantOwned, Timestamps, Base):
    """A tenant's setting of a policy flag of the matrix (only tenant_configurable rows)."""

    __tablename__ = "workflow_policy_overrides"
    __extra_args__ = (
        UniqueConstraint("tenant_id", "environment_class", "action_type"),
        enum_check("environment_class", ENVIRONMENT_CLASSES),
        enum_check("policy", POLICIES),
    )

    environment_class: Mapped[str] = mapped_column(String(20))
    action_type: Mapped[str] = mapped_column(String(50))
    policy: Mapped[str] = mapped_column(String(20))
