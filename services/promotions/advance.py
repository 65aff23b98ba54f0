"""Multi-stage pipelines advance (stage flag ``auto_advance``, off by default): when a
deployment of stage N completes, verified, the promotion of the same workflows into stage
N + 1 (whose source is stage N's target) is opened: pending_approval when that stage needs
approval (with its promotion.pending_approval event), pending otherwise. It is only opened:
running it stays an explicit act (approvers decide, an admin executes into production), and
its gates run again then, so nothing ever lands in a stage whose gates fail.

- Who asks: the original promotion's requester, not "the system". The requester cannot
  approve their own promotion; a promotion opened by nobody would let the person who started
  dev -> staging approve staging -> production themselves.
- What moves: the next stage reads stage N's target's approved copies in Git, which this
  deployment has just committed (never the runtime); when that commit failed, nothing is
  opened (it would promote older content) and the completed promotion says why.
- Once: the opened promotion names the completed one (``advanced_from_id``, unique), and it is
  inserted in the transaction that records the completion; a repeated completion finds it.
- A manual rollback of stage N cancels the opened promotion while it is still queued.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from models.db import db
from models.promotions import Promotion
from services import audit, entitlements
from services.promotions import lifecycle, pipelines

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Advance:
    """What a completed promotion does about the next stage."""

    completed: Promotion
    checked: lifecycle.Checked | None = None
    #: Why it does not advance although its stage asks to (None: it does, or was not asked).
    reason: str | None = None

    def record(self) -> dict[str, Any]:
        """Inside the completion's transaction: open the next stage's promotion; what the
        completed promotion's result says about it."""
        if self.checked is None:
            return {"next_stage": {"opened": False, "reason": self.reason}} if self.reason else {}
        done = self.completed
        opened = lifecycle.open_promotion(
            done.pipeline_id, self.checked, created_by=done.created_by, advanced_from=done.id
        ) or next_stage_id(done.id)
        return {"next_stage": {"opened": True, "promotion_id": str(opened)}}


def prepare(completed: Promotion, stage: dict[str, Any], *, committed: bool) -> Advance:
    """The next stage's compare and validate for a completed promotion whose stage advances
    (reads only; before the completion's transaction, since it reads Git)."""
    if not stage["auto_advance"]:
        return Advance(completed)
    if not committed:
        return Advance(
            completed,
            reason="The target's approved copies were not committed to Git: the next stage "
            "would promote older content. Promote it by hand once Git has them.",
        )
    try:
        entitlements.require_feature("promotions_enabled", "Promotions")
        pipeline = pipelines.get(completed.pipeline_id)
        if not pipeline.is_active:
            return Advance(completed, reason="The pipeline is inactive.")
        following = pipelines.stage(pipeline, completed.stage_index + 1)
        checked = lifecycle.check(
            pipeline_id=pipeline.id,
            source_environment_id=completed.target_environment_id,
            target_environment_id=following["target_environment_id"],
            canonical_ids=lifecycle.selected(completed),
            principal=None,  # the requester's role is checked when someone executes it
        )
    except Exception as error:  # noqa: BLE001 - the completion stands; the reason is recorded
        db.rollback()
        log.warning("promotion %s: the next stage was not opened: %s", completed.id, error)
        return Advance(completed, reason=f"The next stage could not be opened: {error}")
    return Advance(completed, checked)


def withdraw(rolled_back: Promotion) -> list[str]:
    """After a manual rollback of a stage: cancel the next stage's promotion it opened, while
    that one has not run (its deployments that have not started too). Not committed."""
    ids = db.scalars(
        update(Promotion)
        .where(
            Promotion.advanced_from_id == rolled_back.id,
            Promotion.status.in_(lifecycle.QUEUED),
        )
        .values(
            status="cancelled",
            execution_result={"cancelled_by_rollback_of": str(rolled_back.id)},
            updated_at=func.now(),
        )
        .returning(Promotion.id)
    ).all()
    if ids:
        lifecycle.cancel_deployments(ids)
        audit.record(
            "promotion.cancelled",
            resource_type="promotion",
            resource_id=ids[0],
            new={"status": "cancelled", "rolled_back": str(rolled_back.id)},
        )
    return [str(i) for i in ids]


def next_stage_id(promotion_id: uuid.UUID) -> uuid.UUID | None:
    """The next stage's promotion a completed one opened."""
    return db.scalar(select(Promotion.id).where(Promotion.advanced_from_id == promotion_id))
