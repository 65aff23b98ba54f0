"""Drift: incidents and their approvals, per-tenant policies, check history, reconciliation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSON, Base, CreatedAt, TenantOwned, Timestamps, enum_check, tenant_fk
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
#: How an incident is resolved by a job: the approved version redeployed, or the running one
#: kept as the approved one.
RESOLUTIONS = ("revert", "keep_hotfix")
#: Who set a value: the rules (severity from the affected count, TTL from the policy) or a person.
VALUE_SOURCES = ("rules", "person")
#: What an override rests on: an admin's override (manual_override), or an attestation with a
#: ticket (require_attestation; it also satisfies manual_override).
ATTESTATION_KINDS = ("override", "attestation")
#: Every entry of an incident's timeline.
INCIDENT_EVENT_TYPES = (
    "created",
    "accumulated",
    "acknowledged",
    "stabilized",
    "reconciled",
    "closed",
    "updated",
    "cleared",
    "ttl_warning",
    "ttl_expired",
    "ttl_extended",
    "override",
    "approval",
    "resolution",
    "deleted",
)

_ACTIVE_INCIDENT = "status <> 'closed' AND NOT is_deleted"

#: Minutes between scheduled checks unless a policy says otherwise (system.md §4.7).
DEFAULT_CHECK_INTERVAL_MINUTES = 5
#: The longest interval a policy may set: a day.
MAX_CHECK_INTERVAL_MINUTES = 1440


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
        Index("ix_drift_incidents_tenant_id_detected_at", "tenant_id", "detected_at", "id"),
        enum_check("status", INCIDENT_STATUSES),
        enum_check("severity", SEVERITIES),
        enum_check("resolution_type", RESOLUTION_TYPES),
        enum_check("severity_source", VALUE_SOURCES),
        enum_check("ttl_source", VALUE_SOURCES),
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
    #: rules: severity follows the affected count as drift accumulates; person: set by someone.
    severity_source: Mapped[str] = mapped_column(String(10), server_default="rules")
    expires_at: Mapped[datetime | None]
    #: rules: expires_at follows the policy's TTL for the severity; person: set or extended.
    ttl_source: Mapped[str] = mapped_column(String(10), server_default="rules")
    #: Sent once, so the TTL checker does not warn again on its next cycle.
    ttl_warning_sent_at: Mapped[datetime | None]
    #: TTL expiry marks the incident and never closes it: policies block on expired open incidents.
    expired_at: Mapped[datetime | None]
    affected_workflows: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    #: Digest of what drifts now (workflow, kind, runtime digest of each): an override or
    #: attestation covers the drift it was given for, not drift that came after it.
    drift_fingerprint: Mapped[str | None] = mapped_column(String(64))
    #: The last check that found drift, and the first check since then that found none (an
    #: open incident is never closed by a check: a person reconciles and closes it).
    last_detected_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
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
        CheckConstraint(
            f"check_interval_minutes BETWEEN 1 AND {MAX_CHECK_INTERVAL_MINUTES}",
            name="check_interval_range",
        ),
        CheckConstraint(
            "expiration_warning_hours >= 0 AND approval_expiry_hours > 0"
            " AND closed_incident_retention_days >= 0"
            " AND reconciliation_artifact_retention_days >= 0"
            " AND approval_retention_days >= 0 AND check_history_retention_days >= 0",
            name="hours_and_days_not_negative",
        ),
    )

    environment_id: Mapped[uuid.UUID | None]
    #: Minutes between scheduled drift checks of each non-dev environment it governs.
    check_interval_minutes: Mapped[int] = mapped_column(
        server_default=text(str(DEFAULT_CHECK_INTERVAL_MINUTES))
    )
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
    #: Days drift_check_history rows are kept (0: forever).
    check_history_retention_days: Mapped[int] = mapped_column(server_default=text("90"))


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
            "ix_drift_approvals_tenant_id_status_created_at", "tenant_id", "status", "created_at"
        ),
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
    #: What approving it does (the action's own fields: reason, ticket_ref, owner,
    #: resolution_type, the resolution job to start...).
    action_params: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
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
        tenant_fk("job_id", "background_jobs", ondelete="SET NULL"),
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
    #: Counts by kind (modified, missing, not_in_git, out_of_date, untracked) and the
    #: drifted workflows (capped).
    summary: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    job_id: Mapped[uuid.UUID | None]
    checked_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReconciliationArtifact(TenantOwned, Timestamps, Base):
    """Material produced while reconciling an incident (snapshot, diff or script)."""

    __tablename__ = "reconciliation_artifacts"
    __extra_args__ = (
        tenant_fk("incident_id", "drift_incidents", ondelete="CASCADE"),
        tenant_fk("job_id", "background_jobs", ondelete="SET NULL"),
        tenant_fk("created_by", "users", ondelete="SET NULL"),
        Index("ix_reconciliation_artifacts_tenant_id_incident_id", "tenant_id", "incident_id"),
        enum_check("artifact_type", ARTIFACT_TYPES),
        enum_check("status", ARTIFACT_STATUSES),
        enum_check("resolution", RESOLUTIONS),
    )

    incident_id: Mapped[uuid.UUID]
    artifact_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    #: Per workflow: the action taken, and the version before and after it.
    artifact_data: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    resolution: Mapped[str | None] = mapped_column(String(20))
    job_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None]
    finished_at: Mapped[datetime | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    #: Retention emptied artifact_data at this time.
    payload_purged_at: Mapped[datetime | None]


class DriftIncidentEvent(TenantOwned, CreatedAt, Base):
    """One entry of an incident's timeline: a transition (who, when, why, ticket, owner),
    drift accumulated, a TTL warning or expiry, an override. Append-only: only retention may
    empty ``details``."""

    __tablename__ = "drift_incident_events"
    __extra_args__ = (
        tenant_fk("incident_id", "drift_incidents", ondelete="CASCADE"),
        tenant_fk("actor_id", "users", ondelete="SET NULL"),
        tenant_fk("owner_user_id", "users", ondelete="SET NULL"),
        Index(
            "ix_drift_incident_events_tenant_id_incident_id_created_at",
            "tenant_id",
            "incident_id",
            "created_at",
        ),
        enum_check("event_type", INCIDENT_EVENT_TYPES),
    )

    incident_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    #: NULL: the platform (a scheduled check, the TTL checker).
    actor_id: Mapped[uuid.UUID | None]
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_ref: Mapped[str | None] = mapped_column(String(200))
    owner_user_id: Mapped[uuid.UUID | None]
    #: An admin took the step past the transition table or an approval requirement.
    admin_override: Mapped[bool] = mapped_column(server_default=text("false"))
    details: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    payload_purged_at: Mapped[datetime | None]


class DriftAttestation(TenantOwned, Timestamps, Base):
    """Why a promotion may pass an environment's drift block: who, why, which ticket, and the
    drift it covers (the incident's fingerprint when it was given)."""

    __tablename__ = "drift_attestations"
    __extra_args__ = (
        tenant_fk("incident_id", "drift_incidents", ondelete="CASCADE"),
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        tenant_fk("attested_by", "users", ondelete="SET NULL"),
        tenant_fk("revoked_by", "users", ondelete="SET NULL"),
        tenant_fk("approval_id", "drift_approvals", ondelete="SET NULL"),
        Index("ix_drift_attestations_tenant_id_incident_id", "tenant_id", "incident_id"),
        enum_check("kind", ATTESTATION_KINDS),
        CheckConstraint(
            "kind <> 'attestation' OR ticket_ref IS NOT NULL", name="attestation_has_ticket"
        ),
    )

    incident_id: Mapped[uuid.UUID]
    environment_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(20))
    attested_by: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(Text)
    ticket_ref: Mapped[str | None] = mapped_column(String(200))
    #: The incident's drift_fingerprint when it was given.
    covers_fingerprint: Mapped[str | None] = mapped_column(String(64))
    #: Set when an approved deployment_override request produced it.
    approval_id: Mapped[uuid.UUID | None]
    #: None: until the incident closes or the drift changes.
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[uuid.UUID | None]
