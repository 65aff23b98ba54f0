"""What a deployment records: the pre-promotion snapshot (database and Git) before any
change with one row per workflow (their outcomes as it goes: services/promotions/ledger.py),
the target's approved copies after success, and the final state with the post-promotion
snapshot, its events and audit entry. Each write is fenced by the job's lease."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, Uuid, bindparam, column, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.db import db
from models.promotions import Deployment, DeploymentWorkflow, Promotion
from models.snapshots import Snapshot
from models.workflows import CanonicalWorkflow
from services import approved, audit, env_links, events, git
from services.bulk import json_page
from services.promotions import plan, rollback
from services.promotions.ledger import Ledger
from services.workflow_file import dump, from_n8n

log = logging.getLogger(__name__)


class PreSnapshot:
    """The pre-promotion snapshot: its id, n8n id -> snapshot entry, the target's copies as
    read (n8n id -> workflow: the writes' bases), and the target's approved copies built on
    its commit, published after success (None: committed then)."""

    def __init__(
        self,
        snapshot_id: uuid.UUID,
        index: dict[str, dict],
        current: dict[str, dict],
        approval: approved.PendingApproval | None = None,
    ) -> None:
        self.id, self.index, self.current, self.approval = snapshot_id, index, current, approval


def before_writes(
    ctx,
    deployment: Deployment,
    promotion: Promotion,
    built: plan.Plan,
    reads: Iterable[tuple[str, dict]],
    *,
    ledger: Ledger,
) -> PreSnapshot:
    """Before any change: the target's copies about to change (``reads``: n8n id and
    workflow, as each read lands) in Git, with the approved copies built on top
    (unpublished), then, in one transaction, the pre-promotion snapshot and one row per
    workflow of the plan, the ledger's first window applying."""
    target = built.target
    writing = built.writing()
    # While the reads land: the slugs, the rows' values, the approved copies' bytes, then
    # each snapshot file as its read lands.
    canonical = {i.target_n8n_id: i.canonical_id for i in writing if i.target_n8n_id}
    slugs = dict(
        db.execute(
            select(CanonicalWorkflow.id, CanonicalWorkflow.canonical_slug).where(
                CanonicalWorkflow.id.in_(list(canonical.values()))
            )
        ).all()
    )
    rows = _rows(deployment, built)
    snapshot_id = uuid.uuid4()
    folder = git.target_for(target).folder
    for item in writing:
        dump(item.file)
    current, landed, files = {}, {}, {}
    for n8n_id, workflow in reads:
        current[n8n_id] = workflow
        landed[n8n_id] = rollback.snapshot_entry(canonical[n8n_id], workflow)
        slug = slugs[canonical[n8n_id]]
        copy = from_n8n(
            workflow,
            canonical_id=str(canonical[n8n_id]),
            slug=slug,
            workflow_ref=built.links.workflow_ref,
        )
        files[approved.snapshot_path(folder, snapshot_id, slug)] = dump(copy)
    entries = {n8n_id: landed[n8n_id] for n8n_id in canonical}  # in the plan's order
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
            then=_approval(ctx, promotion, built, snapshot_id),
        )
        if files
        else None
    )
    with ctx.fenced_transaction():
        if rows:
            db.execute(_NEW_ROWS, rows)
        ledger.mark_first()
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
    return PreSnapshot(snapshot_id, entries, current, commit.pending if commit else None)


def _approval(ctx, promotion, built: plan.Plan, snapshot_id) -> approved.ApprovedFollowUp:
    """The target's approved copies once the deployment succeeded: the promoted files."""
    files = [i.file for i in built.writing()]
    return approved.ApprovedFollowUp(
        [approved.ApprovedChange(f) for f in files],
        operation="promotion",
        message=f"Promote {len(files)} workflow(s) from {built.source.name}",
        user_id=promotion.created_by,
        job_id=ctx.job_id,
        links={"promotion": str(promotion.id), "snapshot": str(snapshot_id)},
        cached=built.target_copies,
        context=built.context,
    )


_NEW = json_page(
    column("workflow_id", Text),
    column("workflow_name", Text),
    column("canonical_id", Uuid),
    column("status", Text),
    column("target_n8n_id", Text),
)
#: A deployment's rows from one JSON page.
_NEW_ROWS = (
    pg_insert(DeploymentWorkflow.__table__)
    .from_select(
        ["tenant_id", "deployment_id", *(c.name for c in _NEW.c)],
        select(bindparam("tenant_id"), bindparam("deployment_id"), *_NEW.c).select_from(_NEW),
        # Python-side defaults (a uuid4 for id) would be one value for every row.
        include_defaults=False,
    )
    .on_conflict_do_nothing()
)


def _rows(deployment: Deployment, built: plan.Plan) -> dict[str, Any] | None:
    """The parameters of _NEW_ROWS: one deployment_workflows row per workflow of the plan."""
    source_links = env_links.links_for(built.source.id)
    rows = [
        {
            "workflow_id": source_links.n8n_id_for(i.canonical_id) or str(i.canonical_id),
            "workflow_name": i.name,
            "canonical_id": str(i.canonical_id),
            "status": "pending"
            if i.writes
            else ("skipped" if i.status == "target_only" else "unchanged"),
            "target_n8n_id": i.target_n8n_id,
        }
        for i in built.items
    ]
    if not rows:
        return None
    return {"tenant_id": deployment.tenant_id, "deployment_id": deployment.id, "rows": rows}


def after(
    ctx, promotion, built: plan.Plan, applied, pre: PreSnapshot
) -> tuple[list[str], Snapshot, bool]:
    """The target's approved copies (Git: the commit built with the snapshot, else a new one)
    and the post-promotion snapshot, recorded by ``finish`` with the completion; a Git failure
    is a warning, never a failed promotion (the runtime is already right). (warnings, post
    snapshot, whether Git has the copies)."""
    warnings: list[str] = []
    sha = None
    try:
        commit = None
        if pre.approval is not None:
            commit = approved.publish_approved(built.target, pre.approval, lease=ctx.ensure_lease)
        if commit is None:  # none built, or the branch moved since: committed now
            follow = _approval(ctx, promotion, built, pre.id)
            commit = approved.commit_approved(
                built.target,
                follow.changes,
                operation=follow.operation,
                message=follow.message,
                user_id=follow.user_id,
                job_id=follow.job_id,
                links=follow.links,
                lease=ctx.ensure_lease,
            )
        sha = commit.sha
    except Exception as error:  # noqa: BLE001 - recorded as a warning, as the spec says
        log.warning("promotion %s: approved copies not committed: %s", promotion.id, error)
        db.rollback()
        warnings.append(f"The target's approved copies were not committed to Git: {_text(error)}")
    post = Snapshot(
        id=uuid.uuid4(),
        environment_id=built.target.id,
        snapshot_type="post_promotion",
        git_commit_sha=sha,
        workflows=[
            {"canonical_id": r["canonical_id"], "n8n_id": r["n8n_id"], "action": r["action"]}
            for r in applied
        ],
    )
    return warnings, post, sha is not None


def finish(
    ctx,
    deployment,
    promotion,
    status,
    *,
    result,
    gate_results=None,
    pre=None,
    post: Snapshot | None = None,
    rolled_back=False,
    then: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Record the outcome (with ``post``, the post-promotion snapshot); ``then`` runs first in
    the same transaction (what it returns joins the result), so what follows a completion is
    never recorded without it, nor it without."""
    with ctx.fenced_transaction():
        if then is not None:
            result = result | then()
        if post is not None:
            db.add(post)
            db.flush()
        db.execute(
            update(Deployment)
            .where(Deployment.id == deployment.id)
            .values(
                status=status,
                finished_at=func.now(),
                updated_at=func.now(),
                summary_json=summary(result),
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
            values["target_post_snapshot_id"] = post.id
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
                "post_snapshot_id": str(post.id) if post else None,
                **result,
            },
        )


def summary(result: dict[str, Any]) -> dict[str, Any]:
    workflows = result.get("workflows") or []
    return {
        "promoted": len(workflows),
        "created": sum(w["action"] == "created" for w in workflows),
        "updated": sum(w["action"] == "updated" for w in workflows),
        #: Workflows deployed with placeholder credentials (inactive until filled in).
        "with_placeholders": sum(bool(w.get("placeholders")) for w in workflows),
        "rolled_back": len(result.get("rollback") or []),
        "blocked": bool(result.get("blocked")),
        "finished_at": datetime.now(UTC).isoformat(),
    }


def _text(error: BaseException) -> str:
    return str(error) or type(error).__name__
