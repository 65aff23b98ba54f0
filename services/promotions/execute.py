"""Carrying out a deployment (the ``deployment`` job; system.md §4.3 "Execute order"):

1. pending -> running (deployment and promotion, guarded; one running promotion per target);
2. every gate again: a blocked promotion changes nothing;
3. a pre-promotion snapshot of the target's copies that will change (database and Git);
4. each workflow through the deploy writer, called workflows first: in place when linked
   (same n8n id, webhook URLs survive), credentials and sub-workflow ids rewritten, tags by
   name, the source's active state (inactive with placeholder credentials); the lease is
   checked before each write; each workflow's outcome is committed as it lands;
5. verification: read back, and each activated workflow active in n8n;
6. success: the target's approved copies in Git (one commit), a post-promotion snapshot;
   failure: automatic rollback from the snapshot, results per workflow.

A worker lost mid-way is never retried: the reaper fails the job and ``fail_lost`` fails the
deployment, leaving the per-workflow rows that say what was applied (rollback is manual)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.db import db
from models.promotions import Deployment, DeploymentWorkflow, Promotion
from models.snapshots import Snapshot
from models.workflows import CanonicalWorkflow
from services import approved, audit, deploy, env_links, environments, events, git
from services.promotions import deployments, plan, rollback
from services.workflow_file import dump, from_n8n

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
    checked = deployments._check(promotion, None)
    built = checked.plan
    if not checked.report.passed:
        _finish(
            ctx,
            deployment,
            promotion,
            "failed",
            gate_results=checked.report.as_dict(),
            result={"blocked": True, "errors": checked.report.errors},
        )
        raise DeploymentFailed("The promotion's gates block it; nothing was changed.")
    writing = built.writing()
    placeholders = checked.stage["policy"]["allow_placeholder_credentials"]
    with environments.n8n_session(built.target) as client:
        current = {
            i.target_n8n_id: client.get_workflow(i.target_n8n_id)
            for i in writing
            if i.target_n8n_id
        }
        snapshot = _pre_snapshot(ctx, promotion, built, current)
        _rows(ctx, deployment, built)
        writer = deploy.EnvironmentWriter(
            built.target,
            client,
            lease=ctx.ensure_lease,
            links=built.links,
            credentials=built.credentials,
        )
        applied: list[dict[str, Any]] = []
        try:
            for n, item in enumerate(writing, 1):
                applied.append(
                    _write_one(ctx, deployment, writer, item, current, placeholders=placeholders)
                )
                ctx.progress(n, len(writing), f"promoted {item.name}")
            writer.finish()
            _verify(client, applied)
        except Exception as error:
            if type(error).__name__ == "LeaseLost":
                raise  # another attempt owns the deployment now: it decides
            _fail_row(ctx, deployment, error, applied)
            results = rollback.restore(
                built.target, client, applied, snapshot.index, lease=ctx.ensure_lease
            )
            _rolled_back(ctx, deployment, results)
            _finish(
                ctx,
                deployment,
                promotion,
                "failed",
                result={"error": _text(error), "workflows": applied, "rollback": results},
                pre=snapshot.id,
                rolled_back=True,
            )
            raise DeploymentFailed(
                f"The deployment failed and was rolled back: {_text(error)}"
            ) from error
    warnings, post = _after(ctx, promotion, built, applied, snapshot.id)
    result = {
        "workflows": applied,
        "rewrites": _rewrites(built, writing),
        "warnings": warnings,
        "gate_warnings": checked.report.warnings,
    }
    _finish(ctx, deployment, promotion, "completed", result=result, pre=snapshot.id, post=post)
    return {"deployment_id": str(deployment.id), "promoted": len(applied)}


def _start(deployment_id: uuid.UUID) -> tuple[Deployment | None, Promotion | None]:
    moved = db.execute(
        update(Deployment)
        .where(Deployment.id == deployment_id, Deployment.status == "pending")
        .values(status="running", started_at=func.now(), updated_at=func.now())
        .returning(Deployment.promotion_id)
    ).scalar_one_or_none()
    if moved is None:
        return None, None
    db.execute(
        update(Promotion)
        .where(Promotion.id == moved, Promotion.status.in_(("pending", "approved")))
        .values(status="running", updated_at=func.now())
    )
    audit.record("deployment.started", resource_type="deployment", resource_id=deployment_id)
    return db.get(Deployment, deployment_id), db.get(Promotion, moved)


class _Snapshot:
    def __init__(self, snapshot_id: uuid.UUID, index: dict[str, dict]) -> None:
        self.id, self.index = snapshot_id, index


def _pre_snapshot(ctx, promotion: Promotion, built: plan.Plan, current: dict) -> _Snapshot:
    """The target's copies about to change, in the database and in Git, before any change."""
    target = built.target
    entries = {
        n8n_id: rollback.snapshot_entry(_canonical_of(built, n8n_id), wf)
        for n8n_id, wf in current.items()
    }
    snapshot_id = uuid.uuid4()
    slugs = dict(
        db.execute(
            select(CanonicalWorkflow.id, CanonicalWorkflow.canonical_slug).where(
                CanonicalWorkflow.id.in_([uuid.UUID(e["canonical_id"]) for e in entries.values()])
            )
        ).all()
    )
    folder = git.target_for(target).folder
    files = {
        approved.snapshot_path(folder, snapshot_id, slugs[uuid.UUID(e["canonical_id"])]): dump(
            from_n8n(
                current[n8n_id],
                canonical_id=e["canonical_id"],
                slug=slugs[uuid.UUID(e["canonical_id"])],
                workflow_ref=built.links.workflow_ref,
            )
        )
        for n8n_id, e in entries.items()
    }
    commit = (
        approved.commit_approved(
            target,
            [],
            operation="snapshot",
            message=f"Pre-promotion snapshot of {target.name}",
            job_id=ctx.job_id,
            links={"promotion": str(promotion.id), "snapshot": str(snapshot_id)},
            extra_files=files,
            lease=ctx.ensure_lease,
        )
        if files
        else None
    )
    with ctx.fenced_transaction():
        db.add(
            Snapshot(
                id=snapshot_id,
                environment_id=target.id,
                snapshot_type="pre_promotion",
                workflows=list(entries.values()),
                git_commit_sha=commit.sha if commit else None,
            )
        )
        db.flush()
        promotion.target_pre_snapshot_id = snapshot_id
        audit.record(
            "promotion.snapshot",
            resource_type="promotion",
            resource_id=promotion.id,
            new={
                "snapshot_id": str(snapshot_id),
                "type": "pre_promotion",
                "workflows": len(entries),
            },
        )
    return _Snapshot(snapshot_id, entries)


def _canonical_of(built: plan.Plan, n8n_id: str) -> uuid.UUID:
    return next(i.canonical_id for i in built.items if i.target_n8n_id == n8n_id)


def _rows(ctx, deployment: Deployment, built: plan.Plan) -> None:
    """One deployment_workflows row per workflow of the plan, in one statement."""
    source_links = env_links.links_for(built.source.id)
    values = [
        {
            "tenant_id": deployment.tenant_id,
            "deployment_id": deployment.id,
            "workflow_id": source_links.n8n_id_for(i.canonical_id) or str(i.canonical_id),
            "workflow_name": i.name,
            "canonical_id": i.canonical_id,
            "status": "pending"
            if i.writes
            else ("skipped" if i.status == "target_only" else "unchanged"),
            "target_n8n_id": i.target_n8n_id,
        }
        for i in built.items
    ]
    with ctx.fenced_transaction():
        if values:
            db.execute(pg_insert(DeploymentWorkflow).values(values).on_conflict_do_nothing())


def _write_one(ctx, deployment, writer, item: plan.Item, current: dict, *, placeholders: bool):
    missing = [p for p in item.unresolved if p.kind == "credential"]
    want_active = item.file.active and not missing
    outcome = writer.write(
        item.file,
        active=want_active,
        allow_unresolved=bool(missing) and placeholders,
        current=current.get(item.target_n8n_id),
    )
    row = {
        "canonical_id": str(item.canonical_id),
        "name": item.name,
        "n8n_id": outcome.n8n_id,
        "action": outcome.action,
        "active": outcome.active,
        "status": item.status,
        "placeholders": [p.reference for p in missing],
    }
    with ctx.fenced_transaction():
        db.execute(
            update(DeploymentWorkflow)
            .where(
                DeploymentWorkflow.deployment_id == deployment.id,
                DeploymentWorkflow.canonical_id == item.canonical_id,
            )
            .values(
                status="success",
                target_n8n_id=outcome.n8n_id,
                action=outcome.action,
                promoted_at=func.now(),
                updated_at=func.now(),
            )
        )
    if not outcome.verified or outcome.active != want_active:
        raise VerificationError(
            f"{item.name}: n8n did not store it as sent "
            f"({'; '.join(p['message'] for p in outcome.problems)})"
        )
    return row


class VerificationError(Exception):
    """A workflow did not land as sent (read-back differs, or not in the wanted state)."""


def _verify(client, applied: list[dict[str, Any]]) -> None:
    """Each activated workflow is active in n8n after the whole batch landed."""
    for row in applied:
        if row["active"] and not client.get_workflow(row["n8n_id"]).get("active"):
            raise VerificationError(f"{row['name']} is not active in n8n after the deploy")


def _fail_row(ctx, deployment: Deployment, error: Exception, applied: list[dict]) -> None:
    done = [uuid.UUID(r["canonical_id"]) for r in applied]
    with ctx.fenced_transaction():
        first = db.scalar(
            select(DeploymentWorkflow.id)
            .where(
                DeploymentWorkflow.deployment_id == deployment.id,
                DeploymentWorkflow.status == "pending",
                DeploymentWorkflow.canonical_id.not_in(done) if done else True,
            )
            .order_by(DeploymentWorkflow.created_at)
            .limit(1)
        )
        if first is None and applied:  # the failure came after its write (verification)
            first = db.scalar(
                select(DeploymentWorkflow.id).where(
                    DeploymentWorkflow.deployment_id == deployment.id,
                    DeploymentWorkflow.canonical_id == done[-1],
                )
            )
        if first is not None:
            db.execute(
                update(DeploymentWorkflow)
                .where(DeploymentWorkflow.id == first)
                .values(status="failed", error_message=_text(error)[:2000], updated_at=func.now())
            )


def _rolled_back(ctx, deployment: Deployment, results: list[dict]) -> None:
    with ctx.fenced_transaction():
        for r in results:
            db.execute(
                update(DeploymentWorkflow)
                .where(
                    DeploymentWorkflow.deployment_id == deployment.id,
                    DeploymentWorkflow.canonical_id == uuid.UUID(r["canonical_id"]),
                )
                .values(rollback_status=r["rollback"], updated_at=func.now())
            )


def _after(ctx, promotion, built: plan.Plan, applied, pre_id) -> tuple[list[str], uuid.UUID]:
    """The target's approved copies (Git) and the post-promotion snapshot; a Git failure is a
    warning, never a failed promotion (the runtime is already right)."""
    warnings: list[str] = []
    files = [i.file for i in built.writing()]
    sha = None
    try:
        commit = approved.commit_approved(
            built.target,
            [approved.ApprovedChange(f) for f in files],
            operation="promotion",
            message=f"Promote {len(files)} workflow(s) from {built.source.name}",
            user_id=promotion.created_by,
            job_id=ctx.job_id,
            links={"promotion": str(promotion.id), "snapshot": str(pre_id)},
            lease=ctx.ensure_lease,
        )
        sha = commit.sha
    except Exception as error:  # noqa: BLE001 - recorded as a warning, as the spec says
        log.warning("promotion %s: approved copies not committed: %s", promotion.id, error)
        db.rollback()
        warnings.append(f"The target's approved copies were not committed to Git: {_text(error)}")
    post_id = uuid.uuid4()
    with ctx.fenced_transaction():
        db.add(
            Snapshot(
                id=post_id,
                environment_id=built.target.id,
                snapshot_type="post_promotion",
                git_commit_sha=sha,
                workflows=[
                    {
                        "canonical_id": r["canonical_id"],
                        "n8n_id": r["n8n_id"],
                        "action": r["action"],
                    }
                    for r in applied
                ],
            )
        )
    return warnings, post_id


def _rewrites(built: plan.Plan, items: list[plan.Item]) -> list[dict[str, Any]]:
    """Each credential reference as the target resolved it (mapping or same type and name)."""
    found = []
    for item in items:
        for node, cred_type, name in plan.credential_refs(item.file):
            to = built.credentials.resolve(cred_type, name)
            via = "mapping" if (cred_type, name) in built.credentials.logical else "type_and_name"
            found.append(
                {
                    "workflow": item.name,
                    "node": node,
                    "type": cred_type,
                    "from": name,
                    "to": to,
                    "via": via if to else "placeholder",
                }
            )
    return found


def _finish(
    ctx,
    deployment,
    promotion,
    status,
    *,
    result,
    gate_results=None,
    pre=None,
    post=None,
    rolled_back=False,
) -> None:
    with ctx.fenced_transaction():
        db.execute(
            update(Deployment)
            .where(Deployment.id == deployment.id)
            .values(
                status=status,
                finished_at=func.now(),
                updated_at=func.now(),
                summary_json=_summary(result),
            )
        )
        values: dict[str, Any] = {
            "status": status,
            "execution_result": result,
            "updated_at": func.now(),
        }
        if gate_results is not None:
            values["gate_results"] = gate_results
        if post is not None:
            values["target_post_snapshot_id"] = post
        db.execute(update(Promotion).where(Promotion.id == promotion.id).values(**values))
        payload = {
            "promotion_id": str(promotion.id),
            "deployment_id": str(deployment.id),
            "target_environment_id": str(promotion.target_environment_id),
        }
        events.record(
            f"deployment.{status}",
            resource_type="deployment",
            resource_id=deployment.id,
            payload=payload,
        )
        if rolled_back:
            events.record(
                "deployment.rolled_back",
                resource_type="deployment",
                resource_id=deployment.id,
                payload=payload,
            )
        audit.record(
            f"promotion.{status}",
            resource_type="promotion",
            resource_id=promotion.id,
            new={
                "deployment_id": str(deployment.id),
                "pre_snapshot_id": str(pre) if pre else None,
                "post_snapshot_id": str(post) if post else None,
                **result,
            },
        )


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    workflows = result.get("workflows") or []
    return {
        "promoted": len(workflows),
        "created": sum(w["action"] == "created" for w in workflows),
        "updated": sum(w["action"] == "updated" for w in workflows),
        "rolled_back": len(result.get("rollback") or []),
        "blocked": bool(result.get("blocked")),
        "finished_at": datetime.now(UTC).isoformat(),
    }


def _text(error: BaseException) -> str:
    return str(error) or type(error).__name__
