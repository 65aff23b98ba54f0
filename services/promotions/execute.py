"""Carrying out a deployment (the ``deployment`` job; system.md §4.3 "Execute order"):

1. pending -> running (deployment and promotion, guarded; one running promotion per target);
2. every gate again: a blocked promotion changes nothing;
3. a pre-promotion snapshot of the target's copies that will change (database and Git);
4. each workflow through the deploy writer, called workflows first: in place when linked
   (same n8n id, webhook URLs survive), credentials and sub-workflow ids rewritten, tags by
   name, the source's active state; a reference the target cannot resolve, when the stage
   allows it, to a placeholder credential created there first (services/promotions/
   placeholders.py), and the workflow inactive; the lease is checked before each write;
   each workflow's row is marked applying before its write and its outcome committed soon
   after it lands (services/promotions/ledger.py);
5. verification: read back, and each activated workflow active in n8n;
6. success: the target's approved copies in Git (one commit), a post-promotion snapshot,
   and, when the stage advances automatically, the next stage's promotion (advance.py);
   failure: automatic rollback from the snapshot, results per workflow.

A worker lost mid-way is never retried: the reaper fails the job and ``fail_lost`` fails the
deployment, leaving the per-workflow rows that say what was applied or may have been
(rollback is manual)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, update

from jobs.attempts import LeaseLost
from models.db import db
from models.promotions import Deployment, Promotion
from services import audit, deploy, environments
from services.promotions import (
    advance,
    deployments,
    placeholders,
    plan,
    reads,
    records,
    rollback,
    verify,
)
from services.promotions.ledger import Ledger

log = logging.getLogger(__name__)


class DeploymentFailed(Exception):
    """The deployment failed (recorded, rolled back): the job fails with this message."""


def run(ctx) -> dict[str, Any]:
    """The deployment job's body; ``ctx`` is its JobContext."""
    deployment_id = uuid.UUID(ctx.params["deployment_id"])
    with ctx.fenced_transaction():
        deployment, promotion = _start(deployment_id)
    if deployment is None:
        return {"skipped": "the deployment is not pending"}
    try:
        return _deploy(ctx, deployment, promotion)
    except (DeploymentFailed, LeaseLost):
        raise
    except Exception as error:
        # Before the first write (gates, the snapshot): nothing to roll back, and the
        # deployment must not stay running.
        db.rollback()
        records.finish(
            ctx, deployment, promotion, "failed", result={"error": _text(error), "workflows": []}
        )
        raise DeploymentFailed(
            f"The deployment failed; nothing was changed: {_text(error)}"
        ) from error


def _deploy(ctx, deployment: Deployment, promotion: Promotion) -> dict[str, Any]:
    # The target's copies are read while the gates are checked (reads change nothing).
    with reads.ahead(promotion) as ahead:
        return _checked_deploy(ctx, deployment, promotion, ahead)


def _checked_deploy(ctx, deployment, promotion, ahead: reads.ReadAhead) -> dict[str, Any]:
    checked = deployments.check_promotion(promotion, None)
    built = checked.plan
    if not checked.report.passed:
        records.finish(
            ctx,
            deployment,
            promotion,
            "failed",
            gate_results=checked.report.as_dict(),
            result={"blocked": True, "errors": checked.report.errors},
        )
        raise DeploymentFailed("The promotion's gates block it; nothing was changed.")
    writing = built.writing()
    with environments.n8n_session(built.target) as client:
        reading = ahead.landing([i.target_n8n_id for i in writing if i.target_n8n_id], client)
        ledger = Ledger(ctx, deployment.id, writing)
        snapshot = records.before_writes(ctx, deployment, promotion, built, reading, ledger=ledger)
        current = snapshot.current
        made = placeholders.Placeholders(ctx, client, built.target, deployment.id)
        applied: list[dict[str, Any]] = []
        landed_since = datetime.now(UTC)
        window = checked.stage["gates"]["verify_executions_within_s"]
        ran: list[str] = []
        writing_now: plan.Item | None = None
        try:
            if checked.stage["policy"]["allow_placeholder_credentials"]:
                made.ensure((ref for i in writing for ref in _missing(i)), built.credentials)
            writer = deploy.EnvironmentWriter(
                built.target,
                client,
                lease=ctx.ensure_lease,
                links=built.links,
                credentials=made.resolver(built.credentials),
                rules=built.context.ignore_rules,
                # The deployment's own rows are the per-workflow record as it goes; the map
                # follows in one transaction once every workflow landed.
                defer_records=True,
            )
            for n, item in enumerate(writing):
                ledger.before_write(n)
                writing_now = item
                _write_one(writer, ledger, item, current, applied, made=made)
                writing_now = None
                ctx.progress(n + 1, len(writing), f"promoted {item.name}")
            # The last outcomes and the map's records of the batch in one transaction.
            ledger.flush(then=lambda: writer.record_deferred(db.connection()))
            writer.finish()
            _verify(client, applied)
            if window:
                ran = verify.first_executions(
                    ctx, built.target, applied, window_s=window, since=landed_since
                )
        except LeaseLost:
            raise  # another attempt owns the deployment now: it decides
        except Exception as error:
            # The workflow being written, else the last one landed (a failure after the
            # writes: the batch's records, verification).
            stopped = writing_now.canonical_id if writing_now else _last(applied)
            ledger.failed(stopped, _text(error))
            results = rollback.restore(
                built.target, client, applied, snapshot.index, lease=ctx.ensure_lease
            )
            removed = made.remove_created(results)
            ledger.rolled_back(results)
            records.finish(
                ctx,
                deployment,
                promotion,
                "failed",
                result={
                    "error": _text(error),
                    "workflows": applied,
                    "rollback": results,
                    "placeholders": removed,
                },
                pre=snapshot.id,
                rolled_back=True,
            )
            raise DeploymentFailed(
                f"The deployment failed and was rolled back: {_text(error)}"
            ) from error
    warnings, post, committed = records.after(ctx, promotion, built, applied, snapshot)
    following = advance.prepare(promotion, checked.stage, committed=committed)
    result = {
        "workflows": applied,
        "rewrites": _rewrites(built, made.resolver(built.credentials), writing),
        "placeholders": [p.as_dict() for p in made.by_ref.values()],
        "warnings": warnings + ran,
        "gate_warnings": checked.report.warnings,
    }
    records.finish(
        ctx,
        deployment,
        promotion,
        "completed",
        result=result,
        pre=snapshot.id,
        post=post,
        then=following.record,
    )
    return {"deployment_id": str(deployment.id), "promoted": len(applied)}


def _start(deployment_id: uuid.UUID) -> tuple[Deployment | None, Promotion | None]:
    deployment = db.scalars(
        update(Deployment)
        .where(Deployment.id == deployment_id, Deployment.status == "pending")
        .values(status="running", started_at=func.now(), updated_at=func.now())
        .returning(Deployment)
    ).one_or_none()
    if deployment is None:
        return None, None
    promotion = db.scalars(
        update(Promotion)
        .where(
            Promotion.id == deployment.promotion_id,
            Promotion.status.in_(("pending", "approved")),
        )
        .values(status="running", updated_at=func.now())
        .returning(Promotion)
    ).one_or_none()
    audit.record("deployment.started", resource_type="deployment", resource_id=deployment_id)
    return deployment, promotion or db.get(Promotion, deployment.promotion_id)


def _missing(item: plan.Item) -> list[tuple[str, str]]:
    """(type, name) of each credential reference of ``item`` the target cannot resolve."""
    found = []
    for problem in item.unresolved:
        if problem.kind == "credential":
            cred_type = problem.path.removeprefix("credentials.")
            found.append((cred_type, problem.reference[len(cred_type) + 1 :]))
    return found


def _write_one(writer, ledger: Ledger, item: plan.Item, current: dict, applied: list, *, made):
    """Write one workflow (with placeholder credentials it lands inactive); once it landed it
    is in ``applied`` (a rollback puts it back), even when n8n did not store it as sent."""
    missing = _missing(item)
    held = [made.by_ref[ref].as_dict() for ref in missing if ref in made.by_ref]
    want_active = item.file.active and not missing
    outcome = writer.write(
        item.file,
        active=want_active,
        allow_unresolved=bool(held),
        current=current.get(item.target_n8n_id),
    )
    applied.append(
        {
            "canonical_id": str(item.canonical_id),
            "name": item.name,
            "n8n_id": outcome.n8n_id,
            "action": outcome.action,
            "active": outcome.active,
            "status": item.status,
            "placeholders": held,
        }
    )
    ledger.landed(item, outcome.n8n_id, outcome.action, placeholders=held)
    if not outcome.verified or outcome.active != want_active:
        raise VerificationError(
            f"{item.name}: n8n did not store it as sent "
            f"({'; '.join(p['message'] for p in outcome.problems)})"
        )


def _last(applied: list[dict[str, Any]]) -> uuid.UUID | None:
    return uuid.UUID(applied[-1]["canonical_id"]) if applied else None


class VerificationError(Exception):
    """A workflow did not land as sent (read-back differs, or not in the wanted state)."""


def _verify(client, applied: list[dict[str, Any]]) -> None:
    """Each activated workflow is active in n8n after the whole batch landed."""
    for row in applied:
        if row["active"] and not client.get_workflow(row["n8n_id"]).get("active"):
            raise VerificationError(f"{row['name']} is not active in n8n after the deploy")


def _rewrites(built: plan.Plan, written, items: list[plan.Item]) -> list[dict[str, Any]]:
    """Each credential reference as the target resolved it: through a mapping, by the same
    type and name, or to a placeholder (``written``: the resolver the writer used)."""
    found = []
    for item in items:
        for node, cred_type, name in plan.credential_refs(item.file):
            if built.credentials.resolve(cred_type, name) is None:
                via = "placeholder"
            elif (cred_type, name) in built.credentials.logical:
                via = "mapping"
            else:
                via = "type_and_name"
            found.append(
                {
                    "workflow": item.name,
                    "node": node,
                    "type": cred_type,
                    "from": name,
                    "to": written.resolve(cred_type, name),
                    "via": via,
                }
            )
    return found


def _text(error: BaseException) -> str:
    return str(error) or type(error).__name__
