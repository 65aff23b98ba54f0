"""Connected n8n instances ("environments") and the values shared by tables that describe them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantOwned, Timestamps, enum_check, tenant_fk

PROVIDERS = ("n8n",)
ENVIRONMENT_CLASSES = ("dev", "staging", "production")
DRIFT_HANDLING_MODES = ("warn_only", "manual_override", "require_attestation")
DRIFT_STATUSES = (
    "UNKNOWN",
    "NEW",
    "IN_SYNC",
    "DRIFT_DETECTED",
    "GIT_UNAVAILABLE",
    "ERROR",
    "DEPLOY_MISSING",
    "UNMANAGED",
)


#: Git hosts whose conventions (token username, SSH host keys) the platform knows; NULL means
#: inferred from the repository URL's host.
GIT_PROVIDERS = ("github", "gitlab", "gitea", "bitbucket", "generic")

#: What the last connection check found.
CONNECTION_STATUSES = (
    "unknown",
    "healthy",
    "unreachable",
    "tls_error",
    "timeout",
    "unauthorized",
    "forbidden",
    "not_n8n",
    "refused_address",
    "error",
)


class Environment(TenantOwned, Timestamps, Base):
    """A tenant's n8n instance, with its class, Git repository and drift state."""

    __tablename__ = "environments"
    __extra_args__ = (
        UniqueConstraint("tenant_id", "name"),
        tenant_fk("environment_type_id", "environment_types", ondelete="SET NULL"),
        # drift_incidents points back here, so this side of the cycle is added by ALTER TABLE.
        tenant_fk(
            "active_drift_incident_id", "drift_incidents", ondelete="SET NULL", use_alter=True
        ),
        enum_check("provider", PROVIDERS),
        enum_check("environment_class", ENVIRONMENT_CLASSES),
        enum_check("drift_handling_mode", DRIFT_HANDLING_MODES),
        enum_check("drift_status", DRIFT_STATUSES),
        enum_check("connection_status", CONNECTION_STATUSES),
        enum_check("git_provider", GIT_PROVIDERS),
        tenant_fk("git_attach_job_id", "background_jobs", ondelete="SET NULL"),
    )

    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(20), server_default="n8n")
    #: No default: a NULL or guessed class silently changes drift checks and action guards.
    environment_class: Mapped[str] = mapped_column(String(20))
    #: No default: a new environment takes its mode from the tenant's plan (a service decision).
    drift_handling_mode: Mapped[str] = mapped_column(String(30))
    environment_type_id: Mapped[uuid.UUID | None]
    url: Mapped[str] = mapped_column(Text)
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    github_repo_url: Mapped[str | None] = mapped_column(Text)
    github_token_encrypted: Mapped[str | None] = mapped_column(Text)
    github_branch: Mapped[str | None] = mapped_column(String(255))
    git_folder: Mapped[str | None] = mapped_column(String(255))
    git_provider: Mapped[str | None] = mapped_column(String(20))
    #: Username sent with the token (HTTPS basic auth); NULL means the provider's convention.
    git_username: Mapped[str | None] = mapped_column(String(255))
    #: An SSH deploy key (private, OpenSSH or PEM), encrypted like the other secrets.
    git_ssh_key_encrypted: Mapped[str | None] = mapped_column(Text)
    #: known_hosts lines trusted for the SSH remote (public keys, not secret).
    git_known_hosts: Mapped[str | None] = mapped_column(Text)
    #: Set while the embedded repository's history is being pushed to this environment's new
    #: remote (the git_attach job); Git operations wait for it.
    git_attach_job_id: Mapped[uuid.UUID | None]
    last_heartbeat_at: Mapped[datetime | None]
    last_sync_at: Mapped[datetime | None]
    drift_status: Mapped[str] = mapped_column(String(20), server_default="UNKNOWN")
    #: Why the status is what it is: the outage, the counts of drift (services/drift).
    drift_status_reason: Mapped[str | None] = mapped_column(Text)
    last_drift_check_at: Mapped[datetime | None]
    last_drift_detected_at: Mapped[datetime | None]
    active_drift_incident_id: Mapped[uuid.UUID | None]
    #: Set while a downgrade grace period holds the environment read-only.
    is_read_only: Mapped[bool] = mapped_column(server_default=text("false"))
    #: "1.x" or "2.x", probed when connecting; decides e.g. how credentials are listed.
    n8n_version_family: Mapped[str | None] = mapped_column(String(10))
    connection_status: Mapped[str] = mapped_column(String(20), server_default="unknown")
    connection_checked_at: Mapped[datetime | None]
    #: What the last failed check said (never a secret: the client redacts keys).
    connection_error: Mapped[str | None] = mapped_column(Text)
    #: Checks failed in a row; the heartbeat flags the environment past a threshold.
    consecutive_failures: Mapped[int] = mapped_column(server_default=text("0"))
    #: The newest n8n execution id ingested; ingestion reads down to it.
    execution_watermark: Mapped[str | None] = mapped_column(Text)
    last_execution_sync_at: Mapped[datetime | None]
    last_credential_sync_at: Mapped[datetime | None]
