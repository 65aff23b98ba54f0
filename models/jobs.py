"""Background jobs: the tracked unit of every long operation."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import JSON, Base, TenantOwned, Timestamps, enum_check

JOB_TYPES = ("sync", "promotion", "deployment", "onboarding")
JOB_STATUSES = ("pending", "running", "completed", "failed", "cancelled")


class BackgroundJob(TenantOwned, Timestamps, Base):
    """A long operation's row: clients poll it, workers advance it, operators rerun it."""

    __tablename__ = "background_jobs"
    __extra_args__ = (
        Index(
            "ix_background_jobs_tenant_id_status_created_at", "tenant_id", "status", "created_at"
        ),
        enum_check("job_type", JOB_TYPES),
        enum_check("status", JOB_STATUSES),
    )

    job_type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    resource_type: Mapped[str | None] = mapped_column(String(50))
    resource_id: Mapped[uuid.UUID | None]
    #: {current, total, percentage, message}
    progress: Mapped[JSON] = mapped_column(server_default=text("'{}'::jsonb"))
    meta: Mapped[JSON] = mapped_column("metadata", server_default=text("'{}'::jsonb"))
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
