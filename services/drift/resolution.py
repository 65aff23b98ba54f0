"""Resolving an incident in one action, as a job with progress and a reconciliation artifact
(what changed, before and after) (system.md §2 row 17, §4.2 "Hotfix vs promotion"):

- revert: the approved Git version of each drifted workflow is written back through the deploy
  writer (updated in place, same n8n id; created only when n8n lost it), then re-checked;
- keep_hotfix: what runs becomes the approved version (one commit to the environment's Git
  copy), pushed to DEV's runtime too when the policy says force_update_dev (a failed DEV push
  is recorded, never undoes the resolution), then re-checked.

The incident is reconciled when the re-check is clean. Both refuse while Git is unavailable
and follow the environment action guard (revert: restore; keep hotfix: keep_hotfix). The
lease is checked before each write to n8n and before the push to Git.

    job = resolution.start(incident_id, "revert", principal=...)
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update

from jobs import core
from jobs.attempts import HandBack, JobCancelled, LeaseLost
from models.db import db
from models.drift import DriftIncident, ReconciliationArtifact
from models.environments import Environment
from models.jobs import BackgroundJob
from models.workflows import CanonicalWorkflow, WorkflowEnvMap
from services import approved, audit, deploy, env_links, environments, git
from services import policy as guard
from services.drift import detection, incidents, lifecycle, policies, timeline
from services.errors import Conflict
from services.identity import Principal
from services.workflow_file import from_n8n

#: resolution -> (job type, action of the environment action guard, resolution_type)
KINDS = {
    "revert": ("drift_revert", guard.RESTORE, "revert"),
    "keep_hotfix": ("drift_keep_hotfix", guard.KEEP_HOTFIX, "acknowledge"),
}


def start(incident_id: uuid.UUID, resolution: str, *, principal: Principal) -> BackgroundJob:
    """Queue the resolution job (409 while the environment has one running)."""
    incident = incidents.get(incident_id)
    if incident.status == "closed":
        raise Conflict("The incident is closed.", code="incident_closed")
    env = environments.get(incident.environment_id)
    job_type, action, _ = KINDS[resolution]
    guard.enforce(env, action, principal)
    _require_git(env)
    job = core.start(
        job_type,
        resource_type="drift_incident",
        resource_id=incident.id,
        params={"user_id": str(principal.user_id)},
        concurrency_key=f"drift_resolution:{env.id}",
        user_id=principal.user_id,
    )
    details = {"job_id": str(job.id), "resolution": resolution}
    timeline.record(incident.id, "resolution", actor_id=principal.user_id, details=details)
    audit.record(
        f"drift_incident.{resolution}",
        resource_type="drift_incident",
        resource_id=incident.id,
        new=details,
    )
    db.commit()
    return job


def artifacts(incident_id: uuid.UUID) -> list[ReconciliationArtifact]:
    """The incident's reconciliation artifacts, oldest first."""
    incidents.get(incident_id)
    return list(
        db.scalars(
            select(ReconciliationArtifact)
            .where(ReconciliationArtifact.incident_id == incident_id)
            .order_by(ReconciliationArtifact.created_at, ReconciliationArtifact.id)
        )
    )


def _require_git(env: Environment) -> None:
    try:
        git.head(git.target_for(env))
    except detection.GIT_OUTAGES as error:
        raise Conflict(
            f"Git is unavailable, so drift cannot be resolved now: {error.message}",
            code="git_unavailable",
        ) from None


def run(ctx, resolution: str) -> dict[str, Any]:
    """The job's body: act, record the artifact, re-check, reconcile when clean."""
    incident = incidents.get(ctx.resource_id)
    env = environments.get(incident.environment_id)
    user_id = uuid.UUID(ctx.params["user_id"]) if ctx.params.get("user_id") else None
    artifact_id = ctx.once("artifact", lambda: _new_artifact(incident, resolution, user_id, ctx))
    drifted = _drifted(env, incident)
    try:
        act = _revert if resolution == "revert" else _keep_hotfix
        changed = act(env, incident, drifted, ctx, user_id)
    except (LeaseLost, HandBack, JobCancelled):
        raise  # another attempt, or nobody, goes on: this one records nothing more
    except Exception as error:
        db.rollback()
        _finish(artifact_id, "failed", {"workflows": drifted}, error=str(error))
        db.commit()
        raise
    ctx.progress(message="re-checking")
    recheck = detection.check(env.id, job_id=ctx.job_id)
    clean = recheck["drift_status"] == "IN_SYNC"
    with ctx.fenced_transaction():
        _finish(artifact_id, "success", {**changed, "recheck": recheck})
        current = db.get(DriftIncident, incident.id)
        if clean and current.status not in ("reconciled", "closed"):
            lifecycle.transition(
                incident.id,
                "reconciled",
                principal=_actor(ctx, user_id),
                reason=f"{resolution.replace('_', ' ')}: the re-check found no drift",
                resolution_type=KINDS[resolution][2],
                resolution_details={"resolution": resolution, "artifact_id": artifact_id},
                system=True,
                commit=False,
            )
    return {"artifact_id": artifact_id, "reconciled": clean, "recheck": recheck}


def _actor(ctx, user_id: uuid.UUID | None) -> Principal | None:
    return Principal(user_id=user_id, tenant_id=ctx.tenant_id, role="viewer") if user_id else None


def _new_artifact(incident, resolution: str, user_id, ctx) -> str:
    row = ReconciliationArtifact(
        incident_id=incident.id,
        artifact_type="snapshot",
        status="in_progress",
        resolution=resolution,
        job_id=ctx.job_id,
        created_by=user_id,
    )
    db.add(row)
    db.flush()
    return str(row.id)


def _finish(artifact_id: str, status: str, data: dict, *, error: str | None = None) -> None:
    db.execute(
        update(ReconciliationArtifact)
        .where(ReconciliationArtifact.id == uuid.UUID(artifact_id))
        .values(
            status=status,
            artifact_data=data,
            error_message=error,
            finished_at=func.now(),
            updated_at=func.now(),
        )
    )


def _drifted(env: Environment, incident: DriftIncident) -> list[dict[str, Any]]:
    """What drifts now (the last refresh's comparison) and what the incident recorded."""
    current = {a["canonical_id"]: a for a in detection.compare(env.id).drifted}
    recorded = {a["canonical_id"]: a for a in incident.affected_workflows or []}
    return list({**recorded, **current}.values())


def _before(env_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[str, dict[str, Any]]:
    rows = db.execute(
        select(
            WorkflowEnvMap.canonical_id,
            WorkflowEnvMap.n8n_workflow_id,
            WorkflowEnvMap.env_content_hash,
            WorkflowEnvMap.workflow_data,
        ).where(WorkflowEnvMap.environment_id == env_id, WorkflowEnvMap.canonical_id.in_(ids))
    ).all()
    return {str(r.canonical_id): r._asdict() for r in rows}


def _revert(env, incident, drifted, ctx, user_id) -> dict[str, Any]:
    wanted = [uuid.UUID(a["canonical_id"]) for a in drifted if a["kind"] != "not_in_git"]
    files = approved.load_files(env, approved.copies_for(env.id, wanted).values())
    before = _before(env.id, wanted)
    done = []
    with environments.n8n_session(env) as client:
        writer = deploy.EnvironmentWriter(env, client, lease=ctx.ensure_lease)
        for index, (canonical_id, file) in enumerate(files.items()):
            ctx.progress(current=index, total=len(files), message=f"reverting {file.name}")
            was = before.get(str(canonical_id)) or {}
            outcome = writer.write(file)
            done.append(
                {
                    **outcome.as_dict(),
                    "before": {
                        "n8n_id": was.get("n8n_workflow_id"),
                        "digest": was.get("env_content_hash"),
                    },
                    "after": {"n8n_id": outcome.n8n_id, "digest": outcome.digest},
                }
            )
        writer.finish()
    skipped = [a for a in drifted if a["kind"] == "not_in_git"]
    return {"resolution": "revert", "workflows": done, "skipped_not_in_git": skipped}


def _keep_hotfix(env, incident, drifted, ctx, user_id) -> dict[str, Any]:
    ids = [uuid.UUID(a["canonical_id"]) for a in drifted]
    slugs = dict(
        db.execute(
            select(CanonicalWorkflow.id, CanonicalWorkflow.canonical_slug).where(
                CanonicalWorkflow.id.in_(ids)
            )
        ).all()
    )
    before = _before(env.id, ids)
    links = env_links.links_for(env.id)
    changes, files = [], []
    with environments.n8n_session(env) as client:
        for item in drifted:
            canonical_id = uuid.UUID(item["canonical_id"])
            if item["kind"] == "missing":
                changes.append(approved.ApprovedChange(None, canonical_id=canonical_id))
                continue
            row = before[item["canonical_id"]]
            workflow = row["workflow_data"] or client.get_workflow(row["n8n_workflow_id"])
            file = from_n8n(
                workflow,
                canonical_id=str(canonical_id),
                slug=slugs[canonical_id],
                workflow_ref=links.workflow_ref,
            )
            files.append(file)
            changes.append(approved.ApprovedChange(file))
    ctx.progress(message="committing the running versions as approved")
    commit = approved.commit_approved(
        env,
        changes,
        operation="keep_hotfix",
        message=f"Keep the hotfix of drift incident {incident.id} in {env.name}",
        user_id=user_id,
        job_id=ctx.job_id,
        links={"incident": str(incident.id)},
        lease=ctx.ensure_lease,
    )
    workflows = [
        {
            "canonical_id": item["canonical_id"],
            "kind": item["kind"],
            "before": {"approved_digest": item.get("approved_digest")},
            "after": {"approved_digest": commit.digests.get(uuid.UUID(item["canonical_id"]))},
        }
        for item in drifted
    ]
    result = {"resolution": "keep_hotfix", "commit": commit.sha, "workflows": workflows}
    if env.environment_class == "production" and (
        policies.effective(env.id).prod_hotfix_keep_behavior == "force_update_dev"
    ):
        result["dev"] = _push_to_dev(env, files, ctx)
    return result


def _push_to_dev(env: Environment, files, ctx) -> list[dict[str, Any]]:
    """Write the kept versions into each DEV environment's runtime; failures are reported."""
    devs = db.scalars(
        select(Environment).where(
            Environment.tenant_id == env.tenant_id, Environment.environment_class == "dev"
        )
    ).all()
    pushed = []
    for dev in devs:
        try:
            with environments.n8n_session(dev) as client:
                writer = deploy.EnvironmentWriter(dev, client, lease=ctx.ensure_lease)
                outcomes = [writer.write(f, allow_unresolved=True).as_dict() for f in files]
                writer.finish()
            pushed.append({"environment_id": str(dev.id), "workflows": outcomes})
        except (LeaseLost, HandBack, JobCancelled):
            raise
        except Exception as error:  # noqa: BLE001 - a failed DEV push never undoes the keep
            db.rollback()
            pushed.append({"environment_id": str(dev.id), "error": str(error)})
    return pushed
