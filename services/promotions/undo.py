"""Manual rollback of a promotion that ran (the ``promotion`` job): every workflow it wrote
is put back as the pre-promotion snapshot had it (or deleted when the promotion created it),
then the target's approved copies in Git follow. Results per workflow are recorded; the next
stage's promotion it opened (auto advance) is cancelled while still queued. Placeholder
credentials it created stay (see placeholders.py)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import func, select, update

from models.db import db
from models.promotions import Deployment, DeploymentWorkflow, Promotion
from models.snapshots import Snapshot
from models.workflows import CanonicalWorkflow
from services import approved, audit, environments, events
from services.env_links import links_for
from services.promotions import advance, ledger, rollback
from services.workflow_file import from_n8n

log = logging.getLogger(__name__)


def run(ctx) -> dict[str, Any]:
    """The rollback job's body; ``ctx`` is its JobContext."""
    deployment = db.get(Deployment, uuid.UUID(ctx.params["deployment_id"]))
    promotion = db.get(Promotion, deployment.promotion_id)
    snapshot = db.get(Snapshot, promotion.target_pre_snapshot_id)
    rows = db.scalars(
        select(DeploymentWorkflow)
        .where(
            DeploymentWorkflow.deployment_id == deployment.id,
            DeploymentWorkflow.action.is_not(None),
            DeploymentWorkflow.rollback_status.is_distinct_from("restored"),
            DeploymentWorkflow.rollback_status.is_distinct_from("deleted"),
        )
        .order_by(DeploymentWorkflow.promoted_at)
    ).all()
    applied = [
        {
            "canonical_id": str(r.canonical_id),
            "name": r.workflow_name,
            "n8n_id": r.target_n8n_id,
            "action": r.action,
        }
        for r in rows
    ]
    index = {e["n8n_id"]: e for e in snapshot.workflows}
    target = environments.get(promotion.target_environment_id)
    with environments.n8n_session(target) as client:
        results = rollback.restore(target, client, applied, index, lease=ctx.ensure_lease)
    warning = _approved_back(ctx, target, results, index)
    with ctx.fenced_transaction():
        ledger.record_rollback(deployment.id, results)
        outcome = {
            "rollback": results,
            "warning": warning,
            "next_stage_cancelled": advance.withdraw(promotion),
        }
        db.execute(
            update(Promotion)
            .where(Promotion.id == promotion.id)
            .values(
                execution_result=(promotion.execution_result or {}) | outcome, updated_at=func.now()
            )
        )
        events.record(
            "deployment.rolled_back",
            resource_type="deployment",
            resource_id=deployment.id,
            payload={"promotion_id": str(promotion.id), "manual": True},
        )
        audit.record(
            "promotion.rolled_back",
            resource_type="promotion",
            resource_id=promotion.id,
            new={"snapshot_id": str(snapshot.id), **outcome},
        )
    failed = [r for r in results if r["rollback"] == "failed"]
    if failed:
        raise RollbackIncomplete(f"{len(failed)} workflow(s) could not be rolled back")
    return {"restored": len(results)}


class RollbackIncomplete(Exception):
    """Some workflows could not be put back (each one's error is recorded)."""


def _approved_back(ctx, target, results, index) -> str | None:
    """The target's approved copies back to the snapshot's (a failure is a warning)."""
    changes = []
    ids = [uuid.UUID(r["canonical_id"]) for r in results]
    slugs = dict(
        db.execute(
            select(CanonicalWorkflow.id, CanonicalWorkflow.canonical_slug).where(
                CanonicalWorkflow.id.in_(ids)
            )
        ).all()
    )
    refs = links_for(target.id).workflow_ref
    for r in results:
        cid = uuid.UUID(r["canonical_id"])
        if r["rollback"] == "deleted":
            changes.append(approved.ApprovedChange(None, canonical_id=cid))
        elif r["rollback"] == "restored":
            entry = index[r["n8n_id"]]
            raw = {**entry["workflow"], "active": entry["active"]}
            file = from_n8n(raw, canonical_id=str(cid), slug=slugs[cid], workflow_ref=refs)
            changes.append(approved.ApprovedChange(file))
    if not changes:
        return None
    try:
        approved.commit_approved(
            target,
            changes,
            operation="rollback",
            message=f"Roll back a promotion into {target.name}",
            job_id=ctx.job_id,
            lease=ctx.ensure_lease,
        )
    except Exception as error:  # noqa: BLE001 - the runtime is back; Git follows next time
        log.warning("rollback: approved copies not committed: %s", error)
        db.rollback()
        return f"The target's approved copies were not committed to Git: {error}"
    return None
