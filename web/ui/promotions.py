"""Promotions: compose one (a pipeline stage and workflows, with the compare result, every
gate's errors and warnings and each workflow's diff), the list, and a promotion's page:
approve or reject, cancel, execute now or at a time, follow its deployment live, roll back."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import marshmallow as ma
from flask import flash, render_template, request

from jobs import core
from models.db import db
from models.promotions import PROMOTION_STATUSES, Pipeline
from services.errors import Conflict
from services.promotions import deployments, lifecycle, pipelines
from web.api.promotions import (
    PromotionCreateSchema,
    PromotionDecisionSchema,
    PromotionExecuteSchema,
    PromotionListArgs,
    PromotionSelectionSchema,
)
from web.auth import current_principal, requires
from web.ui.base import done, form, listing, page_blueprint
from web.ui.pipelines import emails, environment_names

bp = page_blueprint("ui_promotions", __name__)

#: Every time zone a schedule may name, for the form's suggestions.
TIMEZONES = sorted(available_timezones())
FILTERS = ("status", "pipeline_id", "target_environment_id")


@bp.get("/promotions")
@requires("promotions:read")
def promotion_list():
    """Promotions."""
    args = {k: v for k, v in request.args.items() if v and k in FILTERS}
    filters = {k: v for k, v in PromotionListArgs().load(args).items() if k in FILTERS}
    return render_template(
        "promotions.html",
        promotions=listing(lifecycle.list_query(**filters)),
        args=args,
        statuses=PROMOTION_STATUSES,
        pipelines=db.scalars(pipelines.list_query()).all(),
        names=environment_names(),
    )


def _selection() -> tuple[Pipeline | None, int | None, dict | None]:
    """The pipeline, stage index and selection (as the API's compare takes it) of ?query."""
    pipeline_id = request.args.get("pipeline_id")
    if not pipeline_id:
        return None, None, None
    pipeline = pipelines.get(PromotionListArgs().load({"pipeline_id": pipeline_id})["pipeline_id"])
    index = request.args.get("stage", "0")
    index = int(index) if index.isdigit() and int(index) < len(pipeline.stages) else 0
    stage = pipelines.stage(pipeline, index)
    picked = [c for c in request.args.getlist("canonical_ids") if c]
    selection = PromotionSelectionSchema().load(
        {
            "pipeline_id": str(pipeline.id),
            "source_environment_id": str(stage["source_environment_id"]),
            "target_environment_id": str(stage["target_environment_id"]),
            **({"canonical_ids": picked} if picked else {}),
        }
    )
    return pipeline, index, selection


@bp.get("/promotions/new")
@requires("promotions:read")
def compose():
    """Compose a promotion: pick a stage and workflows, see what it would do."""
    pipeline, index, selection = _selection()
    candidates = checked = None
    if selection is not None:
        principal = current_principal()
        candidates = lifecycle.check(**{**selection, "canonical_ids": None}, principal=principal)
        if selection["canonical_ids"]:
            checked = lifecycle.check(**selection, principal=principal)
    return render_template(
        "promotion_new.html",
        pipelines=db.scalars(pipelines.list_query(active=True)).all(),
        pipeline=pipeline,
        stage_index=index,
        selection=selection,
        candidates=[i.as_dict(with_diff=False) for i in candidates.plan.items]
        if candidates
        else [],
        picked={str(c) for c in (selection or {}).get("canonical_ids") or []},
        items=[i.as_dict() for i in checked.plan.items] if checked else [],
        report=checked.report.as_dict() if checked else None,
        names=environment_names(),
    )


@bp.post("/promotions")
@requires("promotions:request")
def create():
    """Request a promotion."""
    data = PromotionCreateSchema().load(
        {
            **{k: v for k, v in request.form.items() if k.endswith("_id")},
            "canonical_ids": request.form.getlist("canonical_ids"),
        }
    )
    promotion = lifecycle.create(principal=current_principal(), **data)
    return done(
        f"Promotion requested: {promotion.status.replace('_', ' ')}.",
        "ui_promotions.detail",
        promotion_id=promotion.id,
    )


@bp.get("/promotions/<uuid:promotion_id>")
@requires("promotions:read")
def detail(promotion_id):
    """One promotion, its approvals and deployments, live."""
    promotion = lifecycle.get(promotion_id)
    pipeline = pipelines.get(promotion.pipeline_id)
    stage = pipelines.stage(pipeline, promotion.stage_index)
    runs = db.scalars(deployments.list_query(promotion_id=promotion.id)).all()
    latest = runs[0] if runs else None
    refusal = None
    if promotion.status == "pending_approval":
        refusal = lifecycle.refusal(promotion, current_principal())
    return render_template(
        "promotion.html",
        promotion=promotion,
        pipeline=pipeline,
        stage=stage,
        approvals=lifecycle.approvals_of(promotion.id),
        deployments=runs,
        latest=latest,
        detail=deployments.detail(latest.id) if latest else None,
        jobs=follow(latest),
        refusal=refusal,
        mine=promotion.created_by == current_principal().user_id,
        names=environment_names(),
        emails=emails(),
        timezones=TIMEZONES,
    )


def follow(deployment) -> list:
    """The deployment's job and its rollback's, to follow live."""
    ids = [deployment.job_id, deployment.rollback_job_id] if deployment else []
    return [core.get(job_id) for job_id in ids if job_id]


@bp.get("/promotions/<uuid:promotion_id>/diff")
@requires("promotions:read")
def diff(promotion_id):
    """A promotion's workflows compared with the target as it is now."""
    promotion = lifecycle.get(promotion_id)
    compared = lifecycle.diff(promotion_id, principal=current_principal())
    return render_template("promotion_diff.html", promotion=promotion, items=compared["workflows"])


@bp.post("/promotions/<uuid:promotion_id>/approve")
@requires("promotions:approve")
def approve(promotion_id):
    """Approve a promotion."""
    return _decide(promotion_id, approve=True)


@bp.post("/promotions/<uuid:promotion_id>/reject")
@requires("promotions:approve")
def reject(promotion_id):
    """Reject a promotion."""
    return _decide(promotion_id, approve=False)


def _decide(promotion_id, *, approve: bool):
    promotion = lifecycle.decide(
        promotion_id,
        principal=current_principal(),
        approve=approve,
        **form(PromotionDecisionSchema()),
    )
    message = f"Decision recorded; the promotion is {promotion.status.replace('_', ' ')}."
    return done(message, "ui_promotions.detail", promotion_id=promotion_id)


@bp.post("/promotions/<uuid:promotion_id>/cancel")
@requires("promotions:request")
def cancel(promotion_id):
    """Cancel a promotion that has not started."""
    lifecycle.cancel(promotion_id, principal=current_principal())
    return done("Promotion cancelled.", "ui_promotions.detail", promotion_id=promotion_id)


def scheduled_for() -> datetime | None:
    """The posted local date and time in the posted time zone (None: now), by the API's
    schema."""
    local, zone = request.form.get("scheduled_for", ""), request.form.get("timezone") or "UTC"
    if request.form.get("when") != "later":
        return None
    try:
        moment = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError):
        raise ma.ValidationError(
            {"scheduled_for": [f"Give a date, a time and a known time zone (not {zone!r})."]}
        ) from None
    return PromotionExecuteSchema().load({"scheduled_for": moment.isoformat()})["scheduled_for"]


@bp.post("/promotions/<uuid:promotion_id>/execute")
@requires("promotions:execute")
def execute(promotion_id):
    """Execute a promotion now (gates first) or schedule it."""
    moment = scheduled_for()
    try:
        deployments.execute(promotion_id, principal=current_principal(), scheduled_for=moment)
    except Conflict as error:
        # A blocked one says why: each gate's error, not only that it is blocked.
        for gate_error in error.details.get("errors", []):
            flash(gate_error["message"], "error")
        raise
    message = f"Scheduled for {moment.isoformat()}." if moment else "Deploying; follow it below."
    return done(message, "ui_promotions.detail", promotion_id=promotion_id)


@bp.post("/promotions/<uuid:promotion_id>/rollback")
@requires("promotions:execute")
def rollback(promotion_id):
    """Roll the target back to the pre-promotion snapshot."""
    deployments.rollback(promotion_id, principal=current_principal())
    return done("Rolling back; follow it below.", "ui_promotions.detail", promotion_id=promotion_id)
