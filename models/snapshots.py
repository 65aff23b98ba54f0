"""Point-in-time copies of an environment's workflows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, CreatedAt, TenantOwned, enum_check, tenant_fk

SNAPSHOT_TYPES = ("pre_promotion", "post_promotion", "manual_backup")


class Snapshot(TenantOwned, CreatedAt, Base):
    """An immutable copy of an environment's workflows, also committed to Git."""

    __tablename__ = "snapshots"
    __extra_args__ = (
        tenant_fk("environment_id", "environments", ondelete="CASCADE"),
        tenant_fk("created_by", "users", ondelete="SET NULL"),
        Index(
            "ix_snapshots_tenant_id_environment_id_created_at",
            "tenant_id",
            "environment_id",
            "created_at",
        ),
        enum_check("snapshot_type", SNAPSHOT_TYPES),
    )

    environment_id: Mapped[uuid.UUID]
    snapshot_type: Mapped[str] = mapped_column(String(20))
    workflows: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    #: NULL when the environment has no Git repository to commit to.
    git_commit_sha: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None]
