"""Starting the canonical-workflow jobs (jobs/canonical.py): the guard first, then the job row
and its audit entry in one transaction. One job of a kind per environment at a time (409)."""

from __future__ import annotations

import uuid
from typing import Any

from jobs import core as jobs
from models.db import db
from models.jobs import BackgroundJob
from services import audit, canonical_onboarding, environments, policy, snapshots, unmanaged
from services.errors import Conflict, InvalidInput
from services.identity import Principal


def _start(
    job_type: str,
    *,
    principal: Principal,
    env_id: uuid.UUID | None,
    params: dict[str, Any],
    concurrency_key: str,
) -> BackgroundJob:
    job = jobs.start(
        job_type,
        resource_type="environment" if env_id else "tenant",
        resource_id=env_id,
        params={**params, "user_id": str(principal.user_id)},
        concurrency_key=concurrency_key,
        user_id=principal.user_id,
    )
    if job is None:  # only schedules return None; a user's start always has its row
        raise Conflict("The job could not be queued; try again.", code="job_conflict")
    audit.record(
        f"{job_type}.start",
        resource_type="environment" if env_id else "tenant",
        resource_id=env_id,
        new={"job_id": str(job.id), **params},
    )
    db.commit()
    return job


def start_onboarding(anchor_id: uuid.UUID, *, principal: Principal) -> BackgroundJob:
    """Queue canonical onboarding from an anchor environment (one per tenant at a time); a
    failed preflight is a 409 naming each failed check."""
    canonical_onboarding.require_ready(anchor_id)
    return _start(
        canonical_onboarding.JOB_TYPE,
        principal=principal,
        env_id=anchor_id,
        params={},
        concurrency_key=canonical_onboarding.JOB_TYPE,
    )


def start_repo_sync(*, principal: Principal, env_id: uuid.UUID | None = None) -> BackgroundJob:
    """Queue a repo sync of one environment's folder, or of every environment."""
    if env_id is not None:
        environments.get(env_id)
    return _start(
        "repo_sync",
        principal=principal,
        env_id=env_id,
        params={},
        concurrency_key=f"repo_sync:{env_id or 'all'}",
    )


def start_backup(
    env_id: uuid.UUID, *, principal: Principal, n8n_ids: list[str] | None = None
) -> tuple[BackgroundJob, policy.Decision]:
    """Queue a backup of the environment (all its workflows, or ``n8n_ids``)."""
    env = environments.get(env_id)
    decision = unmanaged.authorize(env, policy.BACKUP, principal)
    snapshots.require_entitlement()
    params: dict[str, Any] = {"action": policy.BACKUP}
    if n8n_ids:
        params["n8n_ids"] = n8n_ids
    job = _start(
        "workflow_backup",
        principal=principal,
        env_id=env.id,
        params=params,
        concurrency_key=f"workflow_backup:{env.id}",
    )
    return job, decision


def start_restore(
    env_id: uuid.UUID,
    *,
    principal: Principal,
    snapshot_id: uuid.UUID | None = None,
    commit: str | None = None,
    canonical_ids: list[uuid.UUID] | None = None,
    n8n_ids: list[str] | None = None,
) -> tuple[BackgroundJob, policy.Decision]:
    """Queue a restore from a snapshot or a commit (all of it, or some workflows)."""
    if (snapshot_id is None) == (commit is None):
        raise InvalidInput("Restore from a snapshot or from a commit.", code="invalid_source")
    env = environments.get(env_id)
    decision = unmanaged.authorize(env, policy.RESTORE, principal)
    snapshots.require_entitlement()
    if snapshot_id is not None:
        snapshots.get(env.id, snapshot_id)
    params: dict[str, Any] = {
        "snapshot_id": str(snapshot_id) if snapshot_id else None,
        "commit": commit,
        "canonical_ids": [str(c) for c in canonical_ids] if canonical_ids else None,
        "n8n_ids": n8n_ids or None,
    }
    job = _start(
        "workflow_restore",
        principal=principal,
        env_id=env.id,
        params=params,
        concurrency_key=f"workflow_restore:{env.id}",
    )
    return job, decision
