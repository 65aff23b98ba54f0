"""Drift checks as jobs: started on demand (any environment, DEV included: informational) or by
the clock (non-DEV environments, each on its policy's cadence). One concurrency key per
environment, so two checks of one environment never overlap: asking while one is queued or
running answers 409 naming it.

    job = checks.start(env_id, user_id=...)           # BackgroundJob (committed)
    checks.history_query(env_id)                      # drift_check_history, newest first
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select

from jobs import core
from models.db import db
from models.drift import DriftCheckHistory
from models.jobs import BackgroundJob
from services import entitlements, environments
from services.errors import PolicyBlocked

JOB_TYPE = "drift_check"


def concurrency_key(env_id: uuid.UUID) -> str:
    return f"{JOB_TYPE}:{env_id}"


def detection_entitled() -> bool:
    return bool(entitlements.resolve()["features"].get("drift_detection_enabled"))


def require_detection_entitlement() -> None:
    if not detection_entitled():
        raise PolicyBlocked(
            "Drift detection is not part of your plan.",
            code="feature_not_entitled",
            feature="drift_detection_enabled",
        )


def start(env_id: uuid.UUID, *, user_id: uuid.UUID | None) -> BackgroundJob:
    """Queue an on-demand check of the environment (409 while one is queued or running)."""
    env = environments.get(env_id)
    require_detection_entitlement()
    job = core.start(
        JOB_TYPE,
        resource_type="environment",
        resource_id=env.id,
        params={"check_type": "manual"},
        concurrency_key=concurrency_key(env.id),
        user_id=user_id,
    )
    db.commit()
    return job


def history_query(env_id: uuid.UUID) -> Select:
    """The environment's checks, newest first."""
    environments.get(env_id)
    return (
        select(DriftCheckHistory)
        .where(DriftCheckHistory.environment_id == env_id)
        .order_by(DriftCheckHistory.checked_at.desc(), DriftCheckHistory.id.desc())
    )


def latest(env_id: uuid.UUID) -> DriftCheckHistory | None:
    """The environment's most recent check."""
    return db.scalar(history_query(env_id).limit(1))
