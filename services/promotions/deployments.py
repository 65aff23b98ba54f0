"""Deployments (system.md §3.3): a promotion carried out now (a job, one per target
environment at a time) or at ``scheduled_for`` (the clock starts it through a slot key, so
two clocks never start one twice); list, get with per-workflow results and progress, cancel
before start, soft delete, manual rollback of a completed one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text, update

from jobs import core as jobs
from models.db import db, get_engine, reset_context, tenant_scope
from models.jobs import BackgroundJob
from models.promotions import Deployment, DeploymentWorkflow, Promotion
from services import audit, entitlements, environments, policy
from services.errors import Conflict, InvalidInput, NotFound
from services.identity import Principal
from services.promotions import lifecycle, pipelines
from services.rows import get_or_404

#: Deployment statuses that are not over.
OPEN = ("pending", "scheduled", "running")
#: Most scheduled deployments the clock starts per tick.
DUE_BATCH = 100


def concurrency_key(target_id: uuid.UUID) -> str:
    """One deployment or rollback job at a time per target environment."""
    return f"deployment:{target_id}"


def list_query(*, promotion_id: uuid.UUID | None = None, status: str | None = None) -> Select:
    query = (
        select(Deployment)
        .where(Deployment.is_deleted.is_(False))
        .order_by(Deployment.created_at.desc(), Deployment.id.desc())
    )
    if promotion_id:
        query = query.where(Deployment.promotion_id == promotion_id)
    if status:
        query = query.where(Deployment.status == status)
    return query


def get(deployment_id: uuid.UUID) -> Deployment:
    found = get_or_404(Deployment, deployment_id, "No such deployment.")
    if found.is_deleted:
        raise NotFound("No such deployment.")
    return found


def detail(deployment_id: uuid.UUID) -> dict[str, Any]:
    """The deployment with its workflows' outcomes and its job's progress."""
    deployment = get(deployment_id)
    workflows = db.scalars(
        select(DeploymentWorkflow)
        .where(DeploymentWorkflow.deployment_id == deployment.id)
        .order_by(DeploymentWorkflow.created_at, DeploymentWorkflow.workflow_name)
    ).all()
    job = db.get(BackgroundJob, deployment.job_id) if deployment.job_id else None
    return {
        "deployment": deployment,
        "workflows": workflows,
        "progress": job.progress if job else None,
    }


def execute(
    promotion_id: uuid.UUID,
    *,
    principal: Principal,
    scheduled_for: datetime | None = None,
    idempotency_key: str | None = None,
) -> Deployment:
    """Run a promotion now (gates first: a blocked one starts nothing, 409 with the report)
    or schedule it."""
    entitlements.require_feature(pipelines.FEATURE, "Deployments")
    promotion = lifecycle.get(promotion_id)
    if promotion.status == "pending_approval":
        raise Conflict("The promotion waits for approval.", code="approval_required")
    if promotion.status not in ("pending", "approved"):
        raise Conflict(
            f"The promotion is {promotion.status}: it cannot be executed.",
            code="invalid_transition",
            status=promotion.status,
        )
    policy.enforce(
        environments.get(promotion.target_environment_id), policy.DEPLOY_INBOUND, principal
    )
    busy = db.scalar(
        select(Deployment.id).where(
            Deployment.promotion_id == promotion.id, Deployment.status.in_(OPEN)
        )
    )
    if busy:
        raise Conflict(
            "The promotion has a deployment already.",
            code="deployment_exists",
            deployment_id=str(busy),
        )
    if scheduled_for is not None:
        if scheduled_for.tzinfo is None:
            raise InvalidInput("scheduled_for needs a time zone.", code="naive_time")
        stage = pipelines.stage(pipelines.get(promotion.pipeline_id), promotion.stage_index)
        if not pipelines.in_window(stage["schedule_window"], scheduled_for):
            raise Conflict(
                "That time is outside the stage's schedule window.",
                code="outside_window",
                window=stage["schedule_window"],
            )
        deployment = Deployment(
            promotion_id=promotion.id,
            status="scheduled",
            scheduled_for=scheduled_for,
            created_by=principal.user_id,
        )
        db.add(deployment)
        db.flush()
    else:
        checked = check_promotion(promotion, principal)
        if not checked.report.passed:
            raise Conflict(
                "The promotion's gates block it; nothing was changed.",
                code="gates_blocked",
                **checked.report.as_dict(),
            )
        deployment = Deployment(promotion_id=promotion.id, created_by=principal.user_id)
        db.add(deployment)
        db.flush()
        deployment.job_id = _start_job(deployment, promotion, principal.user_id, idempotency_key)
    audit.record(
        "deployment.created",
        resource_type="deployment",
        resource_id=deployment.id,
        new={
            "promotion_id": str(promotion.id),
            "status": deployment.status,
            "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
        },
    )
    db.commit()
    return deployment


def check_promotion(promotion: Promotion, principal: Principal | None) -> lifecycle.Checked:
    return lifecycle.check(
        pipeline_id=promotion.pipeline_id,
        source_environment_id=promotion.source_environment_id,
        target_environment_id=promotion.target_environment_id,
        canonical_ids=lifecycle.selected(promotion),
        principal=principal,
    )


def _start_job(deployment, promotion, user_id, idempotency_key, **schedule) -> uuid.UUID | None:
    job = jobs.start(
        "deployment",
        resource_type="deployment",
        resource_id=deployment.id,
        params={"deployment_id": str(deployment.id)},
        concurrency_key=concurrency_key(promotion.target_environment_id),
        idempotency_key=idempotency_key,
        user_id=user_id,
        **schedule,
    )
    return job.id if job is not None else None


def cancel(deployment_id: uuid.UUID) -> Deployment:
    """Cancel a deployment that has not started (its job too)."""
    deployment = get(deployment_id)
    done = db.execute(
        update(Deployment)
        .where(Deployment.id == deployment.id, Deployment.status.in_(("pending", "scheduled")))
        .values(status="cancelled", finished_at=func.now(), updated_at=func.now())
    ).rowcount
    if not done:
        raise Conflict(
            f"The deployment is {deployment.status}: it cannot be cancelled.",
            code="invalid_transition",
            status=deployment.status,
        )
    if deployment.job_id:
        db.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id == deployment.job_id, BackgroundJob.status == "pending")
            .values(status="cancelled", finished_at=func.now())
        )
    audit.record("deployment.cancelled", resource_type="deployment", resource_id=deployment.id)
    db.commit()
    db.refresh(deployment)
    return deployment


def delete(deployment_id: uuid.UUID) -> None:
    """Soft delete (the record stays for the audit trail); never while it may still run."""
    deployment = get(deployment_id)
    if deployment.status in OPEN:
        raise Conflict(
            f"The deployment is {deployment.status}: cancel it first.",
            code="invalid_transition",
            status=deployment.status,
        )
    deployment.is_deleted = True
    audit.record("deployment.deleted", resource_type="deployment", resource_id=deployment.id)
    db.commit()


def rollback(promotion_id: uuid.UUID, *, principal: Principal) -> Deployment:
    """Roll a completed (or failed) promotion's target back to its pre-promotion snapshot,
    in a job."""
    promotion = lifecycle.get(promotion_id)
    deployment = db.scalar(
        select(Deployment)
        .where(Deployment.promotion_id == promotion.id, Deployment.is_deleted.is_(False))
        .order_by(Deployment.created_at.desc())
        .limit(1)
    )
    if (
        promotion.status not in ("completed", "failed")
        or deployment is None
        or promotion.target_pre_snapshot_id is None
        or deployment.status not in ("completed", "failed")
    ):
        raise Conflict(
            "Only a promotion that ran (with its pre-promotion snapshot) can be rolled back.",
            code="invalid_transition",
            status=promotion.status,
        )
    job = jobs.start(
        "promotion",
        resource_type="deployment",
        resource_id=deployment.id,
        params={"deployment_id": str(deployment.id), "action": "rollback"},
        concurrency_key=concurrency_key(promotion.target_environment_id),
        user_id=principal.user_id,
    )
    deployment.rollback_job_id = job.id
    audit.record(
        "promotion.rollback_requested",
        resource_type="promotion",
        resource_id=promotion.id,
        new={"deployment_id": str(deployment.id), "job_id": str(job.id)},
    )
    db.commit()
    return deployment


# --- the clock --------------------------------------------------------------------------------


def start_due(*, limit: int = DUE_BATCH) -> int:
    """Start the scheduled deployments whose time has come; a target busy with another one
    waits for the next tick. The job's schedule slot is the deployment's own time, and the
    status moves from scheduled only once: two clocks never start one twice."""
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT * FROM deployments_due(:limit)"), {"limit": limit}).all()
    started = 0
    for row in rows:
        try:
            with tenant_scope(row.tenant_id):
                started += _start_scheduled(row.deployment_id, row.scheduled_for)
        except Conflict:
            db.rollback()
        finally:
            reset_context()
    return started


def _start_scheduled(deployment_id: uuid.UUID, slot: datetime) -> int:
    deployment = db.get(Deployment, deployment_id)
    promotion = db.get(Promotion, deployment.promotion_id)
    job_id = _start_job(
        deployment,
        promotion,
        deployment.created_by,
        None,
        schedule_key=f"deployment:{deployment.id}",
        scheduled_slot=slot,
        triggered_by="schedule",
    )
    if job_id is None:  # another clock started this slot
        db.rollback()
        return 0
    moved = db.execute(
        update(Deployment)
        .where(Deployment.id == deployment.id, Deployment.status == "scheduled")
        .values(status="pending", job_id=job_id, updated_at=func.now())
    ).rowcount
    if not moved:
        db.rollback()
        return 0
    db.commit()
    return 1
