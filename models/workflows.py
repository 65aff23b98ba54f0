"""Workflows: canonical (Git-backed) identities, per-environment runtime mappings, Git state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSON, Base, TenantOwned, Timestamps, enum_check, tenant_fk
from models.environments import PROVIDERS

MAPPING_STATUSES = ("linked", "untracked", "missing", "ignored", "deleted")


class Workflow(TenantOwned, Timestamps, Base):
    """Legacy per-environment workflow copy, kept until everything reads workflow_env_map."""

    __tablename__ = "workflows"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "environment_id", "n8n_workflow_id"),
    )

    environment_id: Mapped[uuid.UUID]
    n8n_workflow_id: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    workflow_data: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    is_active: Mapped[bool] = mapped_column(server_default=text("false"))
    is_archived: Mapped[bool] = mapped_column(server_default=text("false"))


class CanonicalWorkflow(TenantOwned, Timestamps, Base):
    """A source-managed workflow: one stable identity across all of a tenant's environments."""

    __tablename__ = "canonical_workflows"
    __extra_args__ = (
        UniqueConstraint("tenant_id", "canonical_slug"),
        enum_check("provider", PROVIDERS),
    )

    canonical_slug: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(Text)
    #: SHA-256 hex of the normalised definition; NULL until a definition has been hashed.
    content_hash: Mapped[str | None] = mapped_column(String(64))
    workflow_definition: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    git_file_path: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(20), server_default="n8n")
    #: Soft delete: environments and Git history keep referring to the identity.
    deleted_at: Mapped[datetime | None]


class WorkflowEnvMap(TenantOwned, Timestamps, Base):
    """One n8n workflow as seen in one environment, linked to its canonical workflow or not."""

    __tablename__ = "workflow_env_map"
    __extra_args__ = (
        tenant_fk("canonical_id", "canonical_workflows", ondelete="SET NULL"),
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "environment_id", "n8n_workflow_id"),
        Index(
            "uq_workflow_env_map_canonical_environment",
            "tenant_id",
            "canonical_id",
            "environment_id",
            unique=True,
            postgresql_where=text("canonical_id IS NOT NULL"),
        ),
        Index(
            "ix_workflow_env_map_tenant_id_environment_id_status",
            "tenant_id",
            "environment_id",
            "status",
        ),
        enum_check("status", MAPPING_STATUSES),
    )

    canonical_id: Mapped[uuid.UUID | None]
    environment_id: Mapped[uuid.UUID]
    n8n_workflow_id: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), server_default="untracked")
    env_content_hash: Mapped[str | None] = mapped_column(String(64))
    git_content_hash: Mapped[str | None] = mapped_column(String(64))
    #: n8n's updatedAt, compared on refresh to skip unchanged workflows.
    n8n_updated_at: Mapped[datetime | None]
    workflow_name: Mapped[str | None] = mapped_column(Text)
    #: Cached definition (size-capped) so diffs and snapshots need no second fetch.
    workflow_data: Mapped[JSON | None] = mapped_column(JSONB(none_as_null=True))
    #: Size of the definition as n8n sent it; above the cap workflow_data stays NULL.
    workflow_data_bytes: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(server_default=text("false"))
    is_archived: Mapped[bool] = mapped_column(server_default=text("false"))
    #: Tag names (tag ids are per instance).
    tags: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    #: Every credential reference of its nodes, [{id, type, name, node}], kept whatever the
    #: definition's size (workflow_data is not, past the cap): the credential inventory.
    credential_refs: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    #: When a complete listing first lacked it and a direct read confirmed it gone.
    missing_since: Mapped[datetime | None]


class WorkflowGitState(TenantOwned, Timestamps, Base):
    """Where a canonical workflow lives in Git for one environment, and at which commit."""

    __tablename__ = "workflow_git_state"
    __extra_args__ = (
        tenant_fk("canonical_id", "canonical_workflows", ondelete="CASCADE"),
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        # NULLS NOT DISTINCT: one environment-less row per canonical too, and a single
        # conflict target for the repo-sync upsert.
        UniqueConstraint(
            "tenant_id", "canonical_id", "environment_id", postgresql_nulls_not_distinct=True
        ),
        Index("ix_workflow_git_state_tenant_id_environment_id", "tenant_id", "environment_id"),
    )

    canonical_id: Mapped[uuid.UUID]
    environment_id: Mapped[uuid.UUID | None]
    git_path: Mapped[str] = mapped_column(Text)
    last_commit_sha: Mapped[str | None] = mapped_column(String(64))
    #: Semantic digest of the approved copy (after the tenant's ignore rules).
    git_content_hash: Mapped[str | None] = mapped_column(String(64))
    last_synced_at: Mapped[datetime | None]
    #: Git's blob id of the file: what a commit expects to replace, what repo sync compares.
    blob_sha: Mapped[str | None] = mapped_column(String(64))
    #: The file's text, cached so diffs, drift and deploys need no Git read; NULL above the
    #: size cap (services/approved.py), then read from Git at last_commit_sha.
    file_content: Mapped[str | None] = mapped_column(Text)
    content_bytes: Mapped[int | None]


class WorkflowIgnoreRule(TenantOwned, Timestamps, Base):
    """A tenant's JSONPath rule naming a part of every workflow that comparisons leave out."""

    __tablename__ = "workflow_ignore_rules"
    __extra_args__ = (
        UniqueConstraint("tenant_id", "rule"),
        tenant_fk("created_by", "users", ondelete="SET NULL"),
    )

    #: RFC 9535 JSONPath (services/workflow_ignore.py).
    rule: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None]
