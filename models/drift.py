"""Drift: incidents and their approvals, per-tenant policies, check history, reconciliation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSON, Base, TenantOwned, Timestamps, enum_check, tenant_fk
from models.environments import DRIFT_STATUSES

INCIDENT_STATUSES = ("detected", "acknowledged", "stabilized", "reconciled", "closed")
SEVERITIES = ("critical", "high", "medium", "low")
RESOLUTION_TYPES = ("promote", "revert", "replace", "acknowledge")
HOTFIX_KEEP_BEHAVIORS = ("force_update_dev", "no_dev_update")
APPROVAL_TYPES = ("acknowledge", "extend_ttl", "close", "reconcile", "deployment_override")
APPROVAL_STATUSES = ("pending", "approved", "rejected", "cancelled")
CHECK_TYPES = ("scheduled", "manual")
ARTIFACT_TYPES = ("snapshot", "diff", "script")
ARTIFACT_STATUSES = ("pending", "in_progress", "success", "failed")

_ACTIVE_INCIDENT = "status <> 'closed' AND NOT is_deleted"


class DriftIncident(TenantOwned, Timestamps, Base):
    """A period during which an environment differs from its approved Git state."""

    __tablename__ = "drift_incidents"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        tenant_fk("detected_by", "users", ondelete="SET NULL"),
        tenant_fk("acknowledged_by", "users", ondelete="SET NULL"),
        tenant_fk("stabilized_by", "users", ondelete="SET NULL"),
        tenant_fk("reconciled_by", "users", ondelete="SET NULL"),
        tenant_fk("closed_by", "users", ondelete="SET NULL"),
        tenant_fk("owner_user_id", "users", ondelete="SET NULL"),
        Index(
            "uq_drift_incidents_active_environment",
            "tenant_id",
            "environment_id",
            unique=True,
            postgresql_where=text(_ACTIVE_INCIDENT),
        ),
        Index(
            "ix_drift_incidents_tenant_id_environment_id_status",
            "tenant_id",
            "environment_id",
            "status",
        ),
        # The TTL checker's cross-tenant scan for incidents about to expire.
        Index(
            "ix_drift_incidents_active_expires_at",
            "expires_at",
            postgresql_where=text(f"{_ACTIVE_INCIDENT} AND expired_at IS NULL"),
        ),
        enum_check("status", INCIDENT_STATUSES),
        enum_check("severity", SEVERITIES),
        enum_check("resolution_type", RESOLUTION_TYPES),
    )

    environment_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(20), server_default="detected")
    title: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    detected_at: Mapped[datetime] = mapped_column(server_default=func.now())
    acknowledged_at: Mapped[datetime | None]
    stabilized_at: Mapped[datetime | None]
    reconciled_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    #: NULL when the drift scheduler created the incident.
    detected_by: Mapped[uuid.UUID | None]
    acknowledged_by: Mapped[uuid.UUID | None]
    stabilized_by: Mapped[uuid.UUID | None]
    reconciled_by: Mapped[uuid.UUID | None]
    closed_by: Mapped[uuid.UUID | None]
    owner_user_id: Mapped[uuid.UUID | None]
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_ref: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str | None] = mapped_column(String(20))
    expires_at: Mapped[datetime | None]
    #: Sent once, so the TTL checker does not warn again on its next cycle.
    ttl_warning_sent_at: Mapped[datetime | None]
    #: TTL expiry marks the incident and never closes it: policies block on expired open incidents.
    expired_at: Mapped[datetime | None]
    affected_workflows: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    #: Immutable once written; retention NULLs it and sets payload_purged_at.
    drift_snapshot: Mapped[JSON | None] = mapped_column(JSONB(none_as_null=True))
    resolution_type: Mapped[str | None] = mapped_column(String(20))
    resolution_details: Mapped[JSON | None] = mapped_column(JSONB(none_as_null=True))
    payload_purged_at: Mapped[datetime | None]
    is_deleted: Mapped[bool] = mapped_column(server_default=text("false"))
    deleted_at: Mapped[datetime | None]


class DriftPolicy(TenantOwned, Timestamps, Base):
    """Drift governance for a whole tenant (environment_id NULL) or for one of its environments."""

    __tablename__ = "drift_policies"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        # Two partial indexes because NULLs never collide in a plain unique constraint.
        Index(
            "uq_drift_policies_tenant_wide",
            "tenant_id",
            unique=True,
            postgresql_where=text("environment_id IS NULL"),
        ),
        Index(
            "uq_drift_policies_environment",
            "tenant_id",
            "environment_id",
            unique=True,
            postgresql_where=text("environment_id IS NOT NULL"),
        ),
        enum_check("prod_hotfix_keep_behavior", HOTFIX_KEEP_BEHAVIORS),
    )

    environment_id: Mapped[uuid.UUID | None]
    #: Hours per severity; a missing key falls back to the service's default TTL.
    severity_ttls: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    #: Block promotions into an environment with an expired open incident.
    enforce_ttl: Mapped[bool] = mapped_column(server_default=text("false"))
    enforce_sla: Mapped[bool] = mapped_column(server_default=text("false"))
    auto_create_incidents: Mapped[bool] = mapped_column(server_default=text("false"))
    auto_create_for_production_only: Mapped[bool] = mapped_column(server_default=text("true"))
    #: Block promotions into an environment with any open incident.
    block_on_active_drift: Mapped[bool] = mapped_column(server_default=text("false"))
    notify_on_detection: Mapped[bool] = mapped_column(server_default=text("true"))
    expiration_warning_hours: Mapped[int] = mapped_column(server_default=text("24"))
    require_approval_for_acknowledge: Mapped[bool] = mapped_column(server_default=text("false"))
    require_approval_for_extend_ttl: Mapped[bool] = mapped_column(server_default=text("true"))
    require_approval_for_reconcile: Mapped[bool] = mapped_column(server_default=text("true"))
    approval_expiry_hours: Mapped[int] = mapped_column(server_default=text("72"))
    prod_hotfix_keep_behavior: Mapped[str] = mapped_column(
        String(20), server_default="force_update_dev"
    )
    #: 0 keeps closed incidents forever.
    closed_incident_retention_days: Mapped[int] = mapped_column(server_default=text("365"))
    reconciliation_artifact_retention_days: Mapped[int] = mapped_column(server_default=text("180"))
    approval_retention_days: Mapped[int] = mapped_column(server_default=text("365"))


class DriftApproval(TenantOwned, Timestamps, Base):
    """A request to approve an action on a drift incident, and its decision."""

    __tablename__ = "drift_approvals"
    __extra_args__ = (
        tenant_fk("incident_id", "drift_incidents", ondelete="CASCADE"),
        tenant_fk("requested_by", "users", ondelete="SET NULL"),
        tenant_fk("reviewed_by", "users", ondelete="SET NULL"),
        tenant_fk("executed_by", "users", ondelete="SET NULL"),
        Index("ix_drift_approvals_tenant_id_incident_id", "tenant_id", "incident_id"),
        Index(
            "uq_drift_approvals_pending_type",
            "tenant_id",
            "incident_id",
            "approval_type",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        enum_check("approval_type", APPROVAL_TYPES),
        enum_check("status", APPROVAL_STATUSES),
        CheckConstraint("reviewed_by <> requested_by", name="reviewer_not_requester"),
    )

    incident_id: Mapped[uuid.UUID]
    approval_type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    requested_by: Mapped[uuid.UUID | None]
    reviewed_by: Mapped[uuid.UUID | None]
    request_reason: Mapped[str | None] = mapped_column(Text)
    review_notes: Mapped[str | None] = mapped_column(Text)
    ttl_extension_hours: Mapped[int | None]
    reviewed_at: Mapped[datetime | None]
    #: A pending request lapses at this time (policy approval_expiry_hours).
    expires_at: Mapped[datetime | None]
    executed_at: Mapped[datetime | None]
    executed_by: Mapped[uuid.UUID | None]


class DriftCheckHistory(TenantOwned, Base):
    """One drift check of one environment: what it found and how long it took."""

    __tablename__ = "drift_check_history"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        Index(
            "ix_drift_check_history_tenant_id_environment_id_checked_at",
            "tenant_id",
            "environment_id",
            "checked_at",
        ),
        enum_check("check_type", CHECK_TYPES),
        enum_check("drift_status", DRIFT_STATUSES),
    )

    environment_id: Mapped[uuid.UUID]
    check_type: Mapped[str] = mapped_column(String(20))
    #: The environment drift status this check produced (ERROR, GIT_UNAVAILABLE, ... included).
    drift_status: Mapped[str | None] = mapped_column(String(20))
    drift_found: Mapped[bool] = mapped_column(server_default=text("false"))
    workflows_checked: Mapped[int] = mapped_column(server_default=text("0"))
    workflows_with_drift: Mapped[int] = mapped_column(server_default=text("0"))
    check_duration_ms: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReconciliationArtifact(TenantOwned, Timestamps, Base):
    """Material produced while reconciling an incident (snapshot, diff or script)."""

    __tablename__ = "reconciliation_artifacts"
    __extra_args__ = (
        tenant_fk("incident_id", "drift_incidents", ondelete="CASCADE"),
        Index("ix_reconciliation_artifacts_tenant_id_incident_id", "tenant_id", "incident_id"),
        enum_check("artifact_type", ARTIFACT_TYPES),
        enum_check("status", ARTIFACT_STATUSES),
    )

    incident_id: Mapped[uuid.UUID]
    artifact_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    artifact_data: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
