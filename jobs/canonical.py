"""Canonical-workflow work that runs as jobs (issue 10): onboarding, repo sync, backups,
restores, unmanaged-workflow actions that commit, digests after new ignore rules. Each hands
``ctx.ensure_lease`` to the service, which calls it before every write to n8n or push to Git."""

from __future__ import annotations

import uuid
from datetime import timedelta

from jobs.actor import JobContext, job_actor
from services import (
    canonical_onboarding,
    environments,
    policy,
    repo_sync,
    restore,
    runtime_digest,
    snapshots,
)


def _user(ctx: JobContext) -> uuid.UUID | None:
    user = ctx.params.get("user_id")
    return uuid.UUID(user) if user else None


@job_actor("workflow_rehash", queue="default", time_limit=timedelta(minutes=30), max_attempts=3)
def rehash_workflows(ctx: JobContext) -> dict:
    """Recompute every stored digest of the tenant under its current ignore rules."""
    return runtime_digest.rehash_tenant(progress=ctx.progress)


@job_actor("canonical_onboarding", queue="git", time_limit=timedelta(hours=1), max_attempts=3)
def onboard_canonical_workflows(ctx: JobContext) -> dict:
    """Adopt the anchor environment's workflows and link the other environments'."""
    return canonical_onboarding.onboard(
        ctx.resource_id,
        user_id=_user(ctx),
        job_id=ctx.job_id,
        lease=ctx.ensure_lease,
        progress=ctx.progress,
    )


@job_actor("repo_sync", queue="git", time_limit=timedelta(minutes=30), max_attempts=3)
def sync_repository(ctx: JobContext) -> dict:
    """Bring the approved-copy cache up to what Git holds (edits people made there)."""
    if ctx.resource_id is not None:
        return repo_sync.sync_environment(ctx.resource_id)
    return repo_sync.sync_tenant(progress=ctx.progress)


@job_actor("workflow_manage", queue="git", time_limit=timedelta(minutes=30), max_attempts=3)
def manage_workflows(ctx: JobContext) -> dict:
    """Create canonical workflows for untracked workflows and commit their approved copies."""
    env = environments.get(ctx.resource_id)
    policy.enforce(env, policy.CREATE_CANONICAL, None)
    return canonical_onboarding.adopt(
        env.id, ctx.params["n8n_ids"], user_id=_user(ctx), job_id=ctx.job_id,
        lease=ctx.ensure_lease,
    )  # fmt: skip


@job_actor("workflow_backup", queue="git", time_limit=timedelta(hours=1), max_attempts=3)
def back_up_workflows(ctx: JobContext) -> dict:
    """Back up an environment's workflows (all, some, or snapshot-only ones) to Git."""
    env = environments.get(ctx.resource_id)
    policy.enforce(env, ctx.params.get("action", policy.BACKUP), None)
    return snapshots.backup(
        env.id,
        snapshot_id=ctx.job_id,
        n8n_ids=ctx.params.get("n8n_ids"),
        user_id=_user(ctx),
        lease=ctx.ensure_lease,
        progress=ctx.progress,
    )


@job_actor("workflow_restore", queue="git", time_limit=timedelta(hours=1), max_attempts=3)
def restore_workflows(ctx: JobContext) -> dict:
    """Write workflows of a snapshot or a commit back into the environment, in place."""
    env = environments.get(ctx.resource_id)
    policy.enforce(env, policy.RESTORE, None)
    params = ctx.params
    return restore.restore(
        env.id,
        snapshot_id=uuid.UUID(params["snapshot_id"]) if params.get("snapshot_id") else None,
        commit=params.get("commit"),
        canonical_ids=[uuid.UUID(c) for c in params["canonical_ids"]]
        if params.get("canonical_ids")
        else None,
        n8n_ids=params.get("n8n_ids"),
        lease=ctx.ensure_lease,
        progress=ctx.progress,
    )
