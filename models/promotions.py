"""Pipelines, promotions along them, and the deployments that carry a promotion out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSON, Base, TenantOwned, Timestamps, enum_check, tenant_fk
from models.environments import PROVIDERS

PROMOTION_STATUSES = (
    "pending",
    "pending_approval",
    "approved",
    "rejected",
    "running",
    "completed",
    "failed",
    "cancelled",
)
DEPLOYMENT_STATUSES = ("pending", "scheduled", "running", "completed", "failed", "cancelled")
#: applying: marked before its write (it may have landed when the worker was lost).
DEPLOYMENT_WORKFLOW_STATUSES = ("pending", "applying", "success", "failed", "skipped", "unchanged")


class Pipeline(TenantOwned, Timestamps, Base):
    """An ordered route between environments, each stage with its gates and approvals."""

    __tablename__ = "pipelines"
    __extra_args__ = (
        UniqueConstraint("tenant_id", "name"),
        enum_check("provider", PROVIDERS),
    )

    provider: Mapped[str] = mapped_column(String(20), server_default="n8n")
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    #: Stage configs (source/target environment, gates, approvals, schedule window, policy
    #: flags); environment ids inside are validated by the service, not by foreign keys.
    stages: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))


class Promotion(TenantOwned, Timestamps, Base):
    """A request to move selected workflows from one environment to the next, and its outcome."""

    __tablename__ = "promotions"
    __extra_args__ = (
        # RESTRICT: promotions are the record of what moved where; retire a used pipeline by
        # deactivating it.
        tenant_fk("pipeline_id", "pipelines", ondelete="RESTRICT"),
        tenant_fk("source_environment_id", "environments", ondelete="CASCADE"),
        tenant_fk("target_environment_id", "environments", ondelete="CASCADE"),
        tenant_fk("source_snapshot_id", "snapshots", ondelete="SET NULL"),
        tenant_fk("target_pre_snapshot_id", "snapshots", ondelete="SET NULL"),
        tenant_fk("target_post_snapshot_id", "snapshots", ondelete="SET NULL"),
        tenant_fk("created_by", "users", ondelete="SET NULL"),
        tenant_fk("approved_by", "users", ondelete="SET NULL"),
        tenant_fk("advanced_from_id", "promotions", ondelete="SET NULL"),
        Index("ix_promotions_tenant_id_pipeline_id", "tenant_id", "pipeline_id"),
        # A completed stage opens at most one promotion of the next (a repeated completion
        # finds it there).
        Index(
            "uq_promotions_advanced_from",
            "tenant_id",
            "advanced_from_id",
            unique=True,
            postgresql_where=text("advanced_from_id IS NOT NULL"),
        ),
        Index(
            "ix_promotions_tenant_id_source_environment_id", "tenant_id", "source_environment_id"
        ),
        Index(
            "ix_promotions_tenant_id_target_environment_id", "tenant_id", "target_environment_id"
        ),
        # The promotion lock: a second promotion into the same environment cannot start.
        Index(
            "uq_promotions_running_target",
            "tenant_id",
            "target_environment_id",
            unique=True,
            postgresql_where=text("status = 'running'"),
        ),
        enum_check("status", PROMOTION_STATUSES),
        CheckConstraint(
            "source_environment_id <> target_environment_id", name="distinct_environments"
        ),
    )

    pipeline_id: Mapped[uuid.UUID]
    source_environment_id: Mapped[uuid.UUID]
    target_environment_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    workflow_selections: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    #: NULL until the gates have run.
    gate_results: Mapped[JSON | None] = mapped_column(JSONB(none_as_null=True))
    source_snapshot_id: Mapped[uuid.UUID | None]
    target_pre_snapshot_id: Mapped[uuid.UUID | None]
    target_post_snapshot_id: Mapped[uuid.UUID | None]
    #: Per-workflow outcome and rollback_result; NULL until executed.
    execution_result: Mapped[JSON | None] = mapped_column(JSONB(none_as_null=True))
    created_by: Mapped[uuid.UUID | None]
    approved_by: Mapped[uuid.UUID | None]
    #: Which stage of the pipeline (its position in ``stages``).
    stage_index: Mapped[int] = mapped_column(server_default=text("0"))
    #: The previous stage's promotion whose verified completion opened this one (auto advance).
    advanced_from_id: Mapped[uuid.UUID | None]


class Deployment(TenantOwned, Timestamps, Base):
    """The execution of a promotion, now or at a scheduled time."""

    __tablename__ = "deployments"
    __extra_args__ = (
        tenant_fk("promotion_id", "promotions", ondelete="CASCADE"),
        tenant_fk("created_by", "users", ondelete="SET NULL"),
        Index("ix_deployments_tenant_id_promotion_id", "tenant_id", "promotion_id"),
        Index("ix_deployments_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_deployments_tenant_id_job_id", "tenant_id", "job_id"),
        # The clock's cross-tenant poll for due deployments.
        Index(
            "ix_deployments_scheduled_due",
            "status",
            "scheduled_for",
            postgresql_where=text("status = 'scheduled'"),
        ),
        enum_check("status", DEPLOYMENT_STATUSES),
        CheckConstraint(
            "status <> 'scheduled' OR scheduled_for IS NOT NULL", name="scheduled_for_required"
        ),
    )

    promotion_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    scheduled_for: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    summary_json: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    #: Scheduled deployments only run when a user scheduled them; this records who.
    created_by: Mapped[uuid.UUID | None]
    is_deleted: Mapped[bool] = mapped_column(server_default=text("false"))
    #: The deployment job, and the rollback job of a manual rollback.
    job_id: Mapped[uuid.UUID | None]
    rollback_job_id: Mapped[uuid.UUID | None]


class DeploymentWorkflow(TenantOwned, Timestamps, Base):
    """The outcome of one workflow within a deployment."""

    __tablename__ = "deployment_workflows"
    __extra_args__ = (
        tenant_fk("deployment_id", "deployments", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "deployment_id", "workflow_id"),
        enum_check("status", DEPLOYMENT_WORKFLOW_STATUSES),
    )

    deployment_id: Mapped[uuid.UUID]
    #: The n8n workflow id in the source environment.
    workflow_id: Mapped[str] = mapped_column(Text)
    workflow_name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    error_message: Mapped[str | None] = mapped_column(Text)
    promoted_at: Mapped[datetime | None]
    canonical_id: Mapped[uuid.UUID | None]
    #: The target's n8n id written (created or updated), for rollback.
    target_n8n_id: Mapped[str | None] = mapped_column(Text)
    #: created, updated, or None when nothing was written.
    action: Mapped[str | None] = mapped_column(String(20))
    #: restored, deleted, failed: what rollback did to it.
    rollback_status: Mapped[str | None] = mapped_column(String(20))
    #: The placeholder credentials written into it (``{"type", "name", "placeholder", "id"}``):
    #: what the operator fills in before activating it.
    placeholder_credentials: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))


PROMOTION_DECISIONS = ("approved", "rejected")


class PromotionApproval(TenantOwned, Timestamps, Base):
    """One approver's decision on a promotion (a stage may need one of N or all of them)."""

    __tablename__ = "promotion_approvals"
    __extra_args__ = (
        tenant_fk("promotion_id", "promotions", ondelete="CASCADE"),
        tenant_fk("user_id", "users", ondelete="SET NULL"),
        UniqueConstraint("tenant_id", "promotion_id", "user_id"),
        enum_check("decision", PROMOTION_DECISIONS),
    )

    promotion_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID | None]
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)


class LogicalCredential(TenantOwned, Timestamps, Base):
    """A credential as workflows name it (type + name), whatever each environment calls it."""

    __tablename__ = "logical_credentials"
    __extra_args__ = (UniqueConstraint("tenant_id", "credential_type", "name"),)

    credential_type: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class CredentialMapping(TenantOwned, Timestamps, Base):
    """Which of an environment's n8n credentials (by type + name) a logical credential is."""

    __tablename__ = "credential_mappings"
    __extra_args__ = (
        tenant_fk("logical_credential_id", "logical_credentials", ondelete="CASCADE"),
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "logical_credential_id", "environment_id"),
        Index("ix_credential_mappings_tenant_id_environment_id", "tenant_id", "environment_id"),
    )

    logical_credential_id: Mapped[uuid.UUID]
    environment_id: Mapped[uuid.UUID]
    n8n_credential_type: Mapped[str] = mapped_column(String(200))
    n8n_credential_name: Mapped[str] = mapped_column(String(200))


class PlaceholderCredential(TenantOwned, Timestamps, Base):
    """An empty credential a promotion created in an environment for a reference it could not
    resolve there (the stage allows placeholders); later promotions reuse it. No secret: its
    data is the type's empty values."""

    __tablename__ = "placeholder_credentials"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        # SET NULL: the placeholder outlives the record of the deployment that created it.
        tenant_fk("deployment_id", "deployments", ondelete="SET NULL"),
        UniqueConstraint("tenant_id", "environment_id", "credential_type", "name"),
    )

    environment_id: Mapped[uuid.UUID]
    #: The reference it stands for: n8n credential type and the name workflows use.
    credential_type: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(Text)
    #: The credential in the environment's n8n.
    n8n_credential_id: Mapped[str] = mapped_column(Text)
    n8n_credential_name: Mapped[str] = mapped_column(Text)
    #: The deployment that created it.
    deployment_id: Mapped[uuid.UUID | None]
