"""Canonical onboarding: adopt what an anchor environment runs as the tenant's canonical
workflows, commit their approved copies, and link the other environments' copies.

    canonical_onboarding.preflight(anchor_id)        # {"ready", "checks": [...]}
    canonical_onboarding.onboard(anchor_id, user_id=..., job_id=..., lease=..., progress=...)

Each untracked workflow of the anchor gets a canonical workflow (slug from its name) and is
linked; every linked workflow of the anchor gets its approved copy, all in one commit. In
every other environment an untracked workflow is linked when its semantic digest equals the
file digest of exactly one canonical workflow not linked there yet, and no other workflow of
that environment has the same digest; it is then committed as that environment's approved
copy (one commit per environment: each has its own folder). Passes repeat while they link
something, since a link can change the digests of workflows that call the linked one.
The report (linked, ambiguous, unmatched per environment; invalid workflows of the anchor)
is the job's result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select

from models.db import db
from models.environments import Environment
from models.jobs import ACTIVE_STATUSES, BackgroundJob
from models.workflows import CanonicalWorkflow
from services import approved, canonicals, env_links, environments, git, links, runtime_digest
from services.errors import Conflict, NotFound
from services.progress import Progress, no_progress
from services.runtime_copies import RuntimeCopy, fill_definitions, rows
from services.workflow_file import InvalidWorkflowFile, WorkflowFile, from_n8n

JOB_TYPE = "canonical_onboarding"
#: Linking passes in other environments (each may unlock callers of what it linked).
MAX_PASSES = 3

LeaseCheck = Callable[[], None]


def preflight(anchor_id: uuid.UUID, *, job_id: uuid.UUID | None = None) -> dict:
    """Whether onboarding from ``anchor_id`` can run now, check by check."""
    anchor = environments.get(anchor_id)
    checks = []

    def check(name: str, ok: bool, message: str) -> None:
        checks.append({"check": name, "ok": ok, "message": message})

    check(
        "anchor_synced",
        anchor.last_sync_at is not None,
        "The anchor environment has been synced."
        if anchor.last_sync_at
        else "Sync the anchor environment first: onboarding adopts what the last sync saw.",
    )
    try:
        git.head(git.target_for(anchor))
        check("git", True, "The anchor's Git repository answers.")
    except (git.GitRemoteError, git.GitRemoteRequired, git.GitAttachPending, git.GitBusy) as error:
        check("git", False, f"Git is not usable: {error}")
    running = db.scalar(
        select(BackgroundJob.id).where(
            BackgroundJob.job_type == JOB_TYPE,
            BackgroundJob.status.in_(ACTIVE_STATUSES),
            BackgroundJob.id != job_id if job_id else True,
        )
    )
    check(
        "no_onboarding_running",
        running is None,
        "No other onboarding is running."
        if running is None
        else f"Onboarding job {running} is still running.",
    )
    return {"ready": all(c["ok"] for c in checks), "anchor_id": anchor.id, "checks": checks}


def completion() -> BackgroundJob:
    """The tenant's latest onboarding job: its status, progress and report (404 if none)."""
    job = db.scalars(
        select(BackgroundJob)
        .where(BackgroundJob.job_type == JOB_TYPE)
        .order_by(BackgroundJob.created_at.desc())
        .limit(1)
    ).first()
    if job is None:
        raise NotFound("No onboarding has run yet.")
    return job


def require_ready(anchor_id: uuid.UUID, *, job_id: uuid.UUID | None = None) -> None:
    """The preflight, as a 409 naming each failed check."""
    checked = preflight(anchor_id, job_id=job_id)
    if not checked["ready"]:
        failed = [c for c in checked["checks"] if not c["ok"]]
        raise Conflict(
            "Onboarding cannot start: " + " ".join(c["message"] for c in failed),
            code="preflight_failed",
            checks=failed,
        )


def onboard(
    anchor_id: uuid.UUID,
    *,
    user_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    lease: LeaseCheck | None = None,
    progress: Progress = no_progress,
) -> dict:
    """Run onboarding (see the module's docstring); returns the completion report."""
    require_ready(anchor_id, job_id=job_id)
    anchor = environments.get(anchor_id)
    progress(current=0, message="reading the anchor's workflows")
    adopted, files = _adopt_and_commit(
        anchor, None, operation="onboarding", user_id=user_id, job_id=job_id, lease=lease
    )
    report = {"anchor": {**adopted, "linked": len(files)}, "environments": []}
    others = db.scalars(
        select(Environment).where(Environment.id != anchor.id).order_by(Environment.name)
    ).all()
    for done, env in enumerate(others, 1):
        progress(current=done, total=len(others), message=f"linking {env.name}")
        report["environments"].append(
            _link_environment(env, files, user_id=user_id, job_id=job_id, lease=lease)
        )
    report["totals"] = {
        key: sum(len(e[key]) for e in report["environments"])
        for key in ("linked", "ambiguous", "unmatched")
    }
    return report


def _invalid(copies: list[RuntimeCopy]) -> dict[str, str]:
    """Workflows that cannot become files, with why (they stay as they are)."""
    found = {}
    for copy in copies:
        try:
            from_n8n(copy.definition, canonical_id="probe", slug="probe", workflow_ref=_none)
        except InvalidWorkflowFile as error:
            found[copy.n8n_id] = str(error)
    return found


def _none(_workflow_id: str) -> None:
    return None


def _adopt(anchor: Environment, untracked: list[RuntimeCopy]) -> dict[str, uuid.UUID]:
    """Create a canonical workflow per untracked workflow and link it, in one transaction."""
    if not untracked:
        return {}
    made = canonicals.create_many(
        canonicals.NewCanonical(copy.name or copy.n8n_id) for copy in untracked
    )
    adopted = {copy.n8n_id: row.id for copy, row in zip(untracked, made, strict=True)}
    links.set_links(anchor.id, adopted)
    db.commit()
    for copy in untracked:
        copy.canonical_id = adopted[copy.n8n_id]
    return adopted


def _files(env: Environment, copies: list[RuntimeCopy]) -> dict[uuid.UUID, WorkflowFile]:
    """The file of each linked copy, its references mapped through the environment's links."""
    refs = env_links.links_for(env.id)
    slugs = dict(db.execute(select(CanonicalWorkflow.id, CanonicalWorkflow.canonical_slug)).all())
    return {
        copy.canonical_id: from_n8n(
            copy.definition,
            canonical_id=str(copy.canonical_id),
            slug=slugs[copy.canonical_id],
            workflow_ref=refs.workflow_ref,
        )
        for copy in copies
        if copy.canonical_id is not None
    }


def _link_environment(
    env: Environment,
    files: dict[uuid.UUID, WorkflowFile],
    *,
    user_id: uuid.UUID | None,
    job_id: uuid.UUID | None,
    lease: LeaseCheck | None,
) -> dict:
    """Auto-link one environment's untracked workflows by digest; commit their files."""
    linked: dict[str, uuid.UUID] = {}
    ambiguous: list[dict] = []
    for _ in range(MAX_PASSES):
        found, ambiguous = _matches(env, files)
        if not found:
            break
        links.set_links(env.id, found)
        db.commit()
        linked.update(found)
    unmatched = [
        {"n8n_id": c.n8n_id, "name": c.name}
        for c in rows(env.id, statuses=("untracked",))
        if c.n8n_id not in {a["n8n_id"] for a in ambiguous}
    ]
    commit = None
    if linked:
        commit = approved.commit_approved(
            env,
            [approved.ApprovedChange(files[canonical]) for canonical in linked.values()],
            operation="onboarding",
            message=f"Onboard {len(linked)} workflows linked in {env.name}",
            user_id=user_id,
            job_id=job_id,
            lease=lease,
        ).sha
    return {
        "environment_id": str(env.id),
        "name": env.name,
        "commit": commit,
        "linked": [{"n8n_id": k, "canonical_id": str(v)} for k, v in sorted(linked.items())],
        "ambiguous": ambiguous,
        "unmatched": unmatched,
    }


def _matches(
    env: Environment, files: dict[uuid.UUID, WorkflowFile]
) -> tuple[dict[str, uuid.UUID], list[dict]]:
    """Untracked workflows with exactly one candidate (and no twin); the ambiguous ones."""
    ctx = runtime_digest.context_for(env.id)
    taken = {uuid.UUID(c) for c in env_links.links_for(env.id).by_canonical}
    by_digest: dict[str, list[uuid.UUID]] = {}
    for canonical, file in files.items():
        if canonical not in taken:
            by_digest.setdefault(ctx.file(file), []).append(canonical)
    untracked = rows(env.id, statuses=("untracked",))
    twins: dict[str | None, int] = {}
    for copy in untracked:
        twins[copy.digest] = twins.get(copy.digest, 0) + 1
    found, ambiguous = {}, []
    for copy in untracked:
        candidates = by_digest.get(copy.digest or "", [])
        if len(candidates) == 1 and twins[copy.digest] == 1:
            found[copy.n8n_id] = candidates[0]
        elif candidates:
            ambiguous.append(
                {
                    "n8n_id": copy.n8n_id,
                    "name": copy.name,
                    "candidates": sorted(str(c) for c in candidates),
                }
            )
    return found, ambiguous


def adopt(
    env_id: uuid.UUID,
    n8n_ids: list[str],
    *,
    user_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    lease: LeaseCheck | None = None,
) -> dict:
    """Create canonical workflows for untracked workflows of an environment, link them, and
    commit their approved copies as one commit (the create-canonical action)."""
    env = environments.get(env_id)
    report, _ = _adopt_and_commit(
        env, n8n_ids, operation="create_canonical", user_id=user_id, job_id=job_id, lease=lease
    )
    return report


def _adopt_and_commit(
    env: Environment,
    n8n_ids: list[str] | None,
    *,
    operation: str,
    user_id: uuid.UUID | None,
    job_id: uuid.UUID | None,
    lease: LeaseCheck | None,
) -> tuple[dict, dict[uuid.UUID, WorkflowFile]]:
    """Adopt the environment's untracked workflows (all, or ``n8n_ids``) and commit the
    approved copy of each linked one as one commit; (report, files by canonical id)."""
    copies = rows(env.id, n8n_ids=n8n_ids, statuses=("untracked", "linked"))
    gone = fill_definitions(env, copies)
    copies = [c for c in copies if c not in gone]
    invalid = _invalid(copies)
    copies = [c for c in copies if c.n8n_id not in invalid]
    created = _adopt(env, [c for c in copies if c.canonical_id is None])
    files = _files(env, copies)
    commit = approved.commit_approved(
        env,
        [approved.ApprovedChange(f) for f in files.values()],
        operation=operation,
        message=f"Manage {len(files)} workflows of {env.name}",
        user_id=user_id,
        job_id=job_id,
        lease=lease,
    )
    report = {
        "environment_id": str(env.id),
        "commit": commit.sha,
        "canonical_created": len(created),
        "created": [{"n8n_id": k, "canonical_id": str(v)} for k, v in sorted(created.items())],
        "gone": [c.n8n_id for c in gone],
        "invalid": [{"n8n_id": k, "error": v} for k, v in sorted(invalid.items())],
    }
    return report, files
