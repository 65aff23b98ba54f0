"""The promotion lifecycle (system.md §3.2): compare and validate, create (pending, or
pending_approval when the stage needs approval), approve / reject (never one's own; 1-of-N
or all), cancel; a newer promotion of the same workflows to the same target supersedes a
queued older one. Every transition is a guarded UPDATE: a stale one is a 409."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, literal, literal_column, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.db import db
from models.promotions import Deployment, Promotion, PromotionApproval
from services import audit, entitlements, environments, events
from services.errors import Conflict, Forbidden
from services.identity import Principal
from services.promotions import gates, pipelines, plan
from services.rows import get_or_404

#: Statuses of a promotion that has not run yet (a newer one may supersede it).
QUEUED = ("pending", "pending_approval", "approved")


@dataclass(frozen=True)
class Checked:
    """A plan and its gate report for one stage."""

    plan: plan.Plan
    stage_index: int
    stage: dict[str, Any]
    report: gates.GateReport


def check(
    *,
    pipeline_id: uuid.UUID,
    source_environment_id: uuid.UUID,
    target_environment_id: uuid.UUID,
    canonical_ids: list[uuid.UUID] | None,
    principal: Principal | None,
    at: datetime | None = None,
) -> Checked:
    """Compare and validate (reads only)."""
    pipeline = pipelines.get(pipeline_id)
    index, stage = pipelines.stage_for(pipeline, source_environment_id, target_environment_id)
    source = environments.get(source_environment_id)
    target = environments.get(target_environment_id)
    built = plan.build(source, target, canonical_ids)
    report = gates.validate(built, stage, principal=principal, at=at or datetime.now(UTC))
    return Checked(built, index, stage, report)


def compare(**selection: Any) -> dict[str, Any]:
    """Per workflow: status in the target, risk level, structured diff."""
    checked = check(**selection)
    return {"workflows": [item.as_dict() for item in checked.plan.items]}


def validate(**selection: Any) -> dict[str, Any]:
    """Every gate at once: blocking errors and warnings, with the per-workflow summary."""
    checked = check(**selection)
    return checked.report.as_dict() | {
        "workflows": [item.as_dict(with_diff=False) for item in checked.plan.items]
    }


def diff(promotion_id: uuid.UUID, *, principal: Principal) -> dict[str, Any]:
    """A promotion's workflows compared with the target as it is now."""
    promotion = get(promotion_id)
    return compare(
        pipeline_id=promotion.pipeline_id,
        source_environment_id=promotion.source_environment_id,
        target_environment_id=promotion.target_environment_id,
        canonical_ids=selected(promotion),
        principal=principal,
    )


def selected(promotion: Promotion) -> list[uuid.UUID]:
    """The canonical workflows a promotion moves."""
    return [
        uuid.UUID(w["canonical_id"])
        for w in promotion.workflow_selections
        if w["status"] != "target_only"
    ]


def list_query(
    *,
    status: str | None = None,
    pipeline_id: uuid.UUID | None = None,
    target_environment_id: uuid.UUID | None = None,
) -> Select:
    query = select(Promotion).order_by(Promotion.created_at.desc(), Promotion.id.desc())
    if status:
        query = query.where(Promotion.status == status)
    if pipeline_id:
        query = query.where(Promotion.pipeline_id == pipeline_id)
    if target_environment_id:
        query = query.where(Promotion.target_environment_id == target_environment_id)
    return query


def get(promotion_id: uuid.UUID) -> Promotion:
    return get_or_404(Promotion, promotion_id, "No such promotion.")


def create(
    *,
    pipeline_id: uuid.UUID,
    source_environment_id: uuid.UUID,
    target_environment_id: uuid.UUID,
    canonical_ids: list[uuid.UUID],
    principal: Principal,
) -> Promotion:
    """Request a promotion of ``canonical_ids``; its gates are run now (and again at start)."""
    entitlements.require_feature("promotions_enabled", "Promotions")
    pipeline = pipelines.get(pipeline_id)
    if not pipeline.is_active:
        raise Conflict("The pipeline is inactive.", code="pipeline_inactive")
    checked = check(
        pipeline_id=pipeline_id,
        source_environment_id=source_environment_id,
        target_environment_id=target_environment_id,
        canonical_ids=canonical_ids,
        principal=principal,
    )
    promotion_id = open_promotion(pipeline_id, checked, created_by=principal.user_id)
    db.commit()
    return get(promotion_id)


def open_promotion(
    pipeline_id: uuid.UUID,
    checked: Checked,
    *,
    created_by: uuid.UUID | None,
    advanced_from: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """Record a promotion of the checked workflows (pending, or pending_approval when the
    stage needs approval), supersede the queued older ones it covers, audit it and record its
    events; the caller commits. ``advanced_from``: the completed promotion of the previous
    stage that opens this one; None comes back when that one opened one already."""
    needs_approval = checked.stage["approvals"]["required"]
    built = checked.plan
    canonical_ids = [str(i.canonical_id) for i in built.items]
    promotion_id = db.scalar(
        pg_insert(Promotion)
        .values(
            tenant_id=built.target.tenant_id,
            pipeline_id=pipeline_id,
            source_environment_id=built.source.id,
            target_environment_id=built.target.id,
            stage_index=checked.stage_index,
            status="pending_approval" if needs_approval else "pending",
            workflow_selections=[i.as_dict(with_diff=False) for i in built.items],
            gate_results=checked.report.as_dict(),
            created_by=created_by,
            advanced_from_id=advanced_from,
        )
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "advanced_from_id"],
            index_where=Promotion.advanced_from_id.is_not(None),
        )
        .returning(Promotion.id)
    )
    if promotion_id is None:
        return None
    superseded = _supersede(promotion_id, built.target.id, canonical_ids)
    audit.record(
        "promotion.created",
        resource_type="promotion",
        resource_id=promotion_id,
        new={
            "status": "pending_approval" if needs_approval else "pending",
            "canonical_ids": canonical_ids,
            "superseded": superseded,
            "advanced_from": str(advanced_from) if advanced_from else None,
        },
    )
    for missing in {
        e["reference"]
        for e in checked.report.errors + checked.report.warnings
        if e["code"] == "credential_missing"
    }:
        events.record(
            "credential.missing",
            resource_type="environment",
            resource_id=built.target.id,
            payload={"reference": missing, "promotion_id": str(promotion_id)},
        )
    if needs_approval:
        events.record(
            "promotion.pending_approval",
            resource_type="promotion",
            resource_id=promotion_id,
            payload={
                "approvers": checked.stage["approvals"]["approvers"],
                "mode": checked.stage["approvals"]["mode"],
            },
        )
    return promotion_id


def _supersede(newer_id: uuid.UUID, target_id: uuid.UUID, canonical_ids: list[str]) -> list[str]:
    """Cancel the queued older promotions into the same target whose workflows this one
    covers, and their deployments that have not started."""
    selected = func.jsonb_path_query_array(
        Promotion.workflow_selections, literal_column("'$[*].canonical_id'::jsonpath")
    )
    ids = db.scalars(
        update(Promotion)
        .where(
            Promotion.id != newer_id,
            Promotion.target_environment_id == target_id,
            Promotion.status.in_(QUEUED),
            literal(canonical_ids, JSONB).op("@>")(selected),
        )
        .values(
            status="cancelled",
            execution_result={"superseded_by": str(newer_id)},
            updated_at=func.now(),
        )
        .returning(Promotion.id)
    ).all()
    if ids:
        cancel_deployments(ids)
    return [str(i) for i in ids]


def cancel_deployments(promotion_ids: list[uuid.UUID]) -> None:
    db.execute(
        update(Deployment)
        .where(Deployment.promotion_id.in_(promotion_ids), Deployment.status == "scheduled")
        .values(status="cancelled", finished_at=func.now(), updated_at=func.now())
    )


def _transition(promotion: Promotion, allowed: tuple[str, ...], status: str, **values) -> None:
    done = db.execute(
        update(Promotion)
        .where(Promotion.id == promotion.id, Promotion.status.in_(allowed))
        .values(status=status, updated_at=func.now(), **values)
    ).rowcount
    if not done:
        db.rollback()
        raise Conflict(
            f"The promotion is {promotion.status}: it cannot become {status}.",
            code="invalid_transition",
            status=promotion.status,
        )
    db.refresh(promotion)


def _approvals(promotion: Promotion) -> dict[str, Any]:
    return pipelines.stage(pipelines.get(promotion.pipeline_id), promotion.stage_index)["approvals"]


def refusal(promotion: Promotion, principal: Principal) -> Forbidden | None:
    """Why ``principal`` may not decide on ``promotion`` (None: they may); pages show it."""
    if promotion.created_by == principal.user_id:
        return Forbidden(
            "The requester cannot decide on their own promotion.", code="own_promotion"
        )
    approvers = set(_approvals(promotion)["approvers"])
    if (approvers and principal.user_id not in approvers) or (
        not approvers and not principal.has_role("admin")
    ):
        return Forbidden("You are not an approver of this stage.", code="not_an_approver")
    return None


def decide(
    promotion_id: uuid.UUID, *, principal: Principal, approve: bool, comment: str | None = None
) -> Promotion:
    """Record an approver's decision; approved once one (any) or every (all) approver
    approved; one rejection rejects."""
    promotion = get(promotion_id)
    if promotion.status != "pending_approval":
        raise Conflict(
            f"The promotion is {promotion.status}, not waiting for approval.",
            code="invalid_transition",
            status=promotion.status,
        )
    if (refused := refusal(promotion, principal)) is not None:
        raise refused
    approvals = _approvals(promotion)
    approvers = set(approvals["approvers"])
    decision = "approved" if approve else "rejected"
    inserted = db.execute(
        pg_insert(PromotionApproval)
        .values(
            tenant_id=promotion.tenant_id,
            promotion_id=promotion.id,
            user_id=principal.user_id,
            decision=decision,
            comment=comment,
        )
        .on_conflict_do_nothing()
        .returning(PromotionApproval.id)
    ).scalar_one_or_none()
    if inserted is None:
        db.rollback()
        raise Conflict("You decided on this promotion already.", code="already_decided")
    if not approve:
        _transition(promotion, ("pending_approval",), "rejected")
    else:
        given = set(
            db.scalars(
                select(PromotionApproval.user_id).where(
                    PromotionApproval.promotion_id == promotion.id,
                    PromotionApproval.decision == "approved",
                )
            )
        )
        needed = approvers - {promotion.created_by}
        if approvals["mode"] == "any" or needed <= given:
            _transition(promotion, ("pending_approval",), "approved", approved_by=principal.user_id)
    audit.record(
        f"promotion.{decision}",
        resource_type="promotion",
        resource_id=promotion.id,
        new={"status": promotion.status, "decision": decision, "comment": comment},
    )
    db.commit()
    return promotion


def cancel(promotion_id: uuid.UUID, *, principal: Principal) -> Promotion:
    """Cancel a promotion that has not started (requester or admin)."""
    promotion = get(promotion_id)
    if promotion.created_by != principal.user_id and not principal.has_role("admin"):
        raise Forbidden("Only its requester or an admin can cancel it.", code="not_requester")
    _transition(promotion, QUEUED, "cancelled")
    cancel_deployments([promotion.id])
    audit.record(
        "promotion.cancelled",
        resource_type="promotion",
        resource_id=promotion.id,
        new={"status": "cancelled"},
    )
    db.commit()
    return promotion


def approvals_of(promotion_id: uuid.UUID) -> list[PromotionApproval]:
    get(promotion_id)
    return list(
        db.scalars(
            select(PromotionApproval)
            .where(PromotionApproval.promotion_id == promotion_id)
            .order_by(PromotionApproval.created_at)
        )
    )
