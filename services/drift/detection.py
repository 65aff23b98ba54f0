"""The drift check of one environment (system.md §2 row 38, §3.6, §4.2; Decision 3):

    result = detection.check(env_id, check_type="scheduled", job_id=ctx.job_id)

1. refresh the runtime side from n8n (the sync: every workflow's semantic digest under the
   environment's links, credential keys and the tenant's ignore rules) and the approved side
   from Git's head (services/drift/git_refresh.py);
2. compare, in one statement, each linked workflow's digest with its approved copy's:
   ``modified`` (edited in place in n8n), ``missing`` (approved in Git, gone from n8n),
   ``not_in_git`` (linked but with no approved copy). Untracked workflows are counted apart
   and never drift; ignored or deleted ones are the user's choice and never count;
3. record the outcome (services/drift/recording.py): drift_check_history, the environment's
   drift status and reason, the open incident (opened per policy, or accumulating).

An n8n or Git outage is never "in sync": the status becomes ERROR (n8n) or GIT_UNAVAILABLE
(Git) with the reason, and the history records it. A check of an environment with no approved
copy in Git compares nothing: NEW (not onboarded).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select

from models.db import db
from models.workflows import WorkflowEnvMap, WorkflowGitState
from services import environments, sync
from services.drift import checks, git_refresh, recording
from services.errors import DomainError
from services.git.errors import GitAttachPending, GitBusy, GitRemoteError, GitRemoteRequired
from services.n8n.errors import N8nError
from services.progress import Progress, no_progress
from services.url_safety import UnsafeUrlError

#: Git failures that make the approved side unknowable: the status is GIT_UNAVAILABLE.
GIT_OUTAGES = (GitRemoteError, GitBusy, GitRemoteRequired, GitAttachPending)
#: Runtime mapping statuses a person chose: such workflows never count as drift.
USER_EXCLUDED = ("ignored", "deleted")


@dataclass
class Findings:
    """What one comparison found."""

    status: str
    reason: str
    checked: int = 0
    drifted: list[dict[str, Any]] = field(default_factory=list)
    untracked: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def drift(self) -> bool:
        return self.status == "DRIFT_DETECTED"


def check(
    env_id: uuid.UUID,
    *,
    check_type: str = "manual",
    job_id: uuid.UUID | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Refresh both sides, compare, record; returns the check's summary. A scheduled check
    of a tenant whose plan has no drift detection records nothing."""
    env = environments.get(env_id)
    if check_type == "scheduled" and not checks.detection_entitled():
        return {"environment_id": str(env.id), "skipped": "drift detection is not in the plan"}
    started = time.monotonic()
    findings = _refreshed_findings(env, progress)
    duration_ms = int((time.monotonic() - started) * 1000)
    env = environments.get(env_id)  # the refresh committed; read it again
    return recording.record(
        env, findings, check_type=check_type, job_id=job_id, duration_ms=duration_ms
    )


def _refreshed_findings(env, progress: Progress) -> Findings:
    try:
        progress(message="refreshing from n8n")
        sync.sync_workflows(env.id, progress=progress)
    except (N8nError, UnsafeUrlError) as error:
        db.rollback()
        return Findings("ERROR", f"n8n could not be read: {environments.diagnose(error)[1]}")
    try:
        progress(message="refreshing from Git")
        refreshed = git_refresh.refresh(env)
        db.commit()
    except GIT_OUTAGES as error:
        db.rollback()
        return Findings("GIT_UNAVAILABLE", f"Git could not be read: {error.message}")
    except DomainError as error:
        db.rollback()
        return Findings("ERROR", f"Git could not be read: {error.message}")
    if refreshed.files == 0:
        return Findings(
            "NEW",
            "Not onboarded: the environment has no approved workflows in Git yet, so there "
            "is nothing to compare with.",
        )
    progress(message="comparing")
    findings = compare(env.id)
    if refreshed.invalid:
        findings.reason += f" {len(refreshed.invalid)} file(s) in Git are not workflow files."
    return findings


def _mapped(env_id: uuid.UUID):
    return (
        select(
            WorkflowEnvMap.canonical_id,
            WorkflowEnvMap.n8n_workflow_id,
            WorkflowEnvMap.workflow_name,
            WorkflowEnvMap.status,
            WorkflowEnvMap.env_content_hash,
        )
        .where(WorkflowEnvMap.environment_id == env_id, WorkflowEnvMap.canonical_id.is_not(None))
        .subquery("m")
    )


def _approved(env_id: uuid.UUID):
    return (
        select(
            WorkflowGitState.canonical_id,
            WorkflowGitState.git_content_hash,
            WorkflowGitState.git_path,
        )
        .where(WorkflowGitState.environment_id == env_id)
        .subquery("s")
    )


def compare(env_id: uuid.UUID) -> Findings:
    """Compare the environment's linked workflows with their approved copies (two queries:
    the drifted rows, and the counts by mapping status)."""
    m, s = _mapped(env_id), _approved(env_id)
    drifted_rows = db.execute(
        select(
            func.coalesce(m.c.canonical_id, s.c.canonical_id).label("canonical_id"),
            m.c.n8n_workflow_id,
            func.coalesce(m.c.workflow_name, s.c.git_path).label("name"),
            m.c.status,
            m.c.env_content_hash,
            s.c.git_content_hash,
            s.c.git_path,
        )
        .select_from(m.join(s, m.c.canonical_id == s.c.canonical_id, full=True))
        .where(
            or_(m.c.status.is_(None), m.c.status.not_in(USER_EXCLUDED)),
            or_(
                m.c.canonical_id.is_(None),
                s.c.canonical_id.is_(None),
                m.c.status == "missing",
                m.c.env_content_hash.is_distinct_from(s.c.git_content_hash),
            ),
        )
        .order_by("canonical_id")
    ).all()
    by_status = dict(
        db.execute(
            select(WorkflowEnvMap.status, func.count())
            .where(WorkflowEnvMap.environment_id == env_id)
            .group_by(WorkflowEnvMap.status)
        ).all()
    )
    drifted = [_finding(row) for row in drifted_rows]
    counts: dict[str, int] = {"modified": 0, "missing": 0, "not_in_git": 0}
    for item in drifted:
        counts[item["kind"]] += 1
    checked = by_status.get("linked", 0)
    untracked = by_status.get("untracked", 0)
    counts["untracked"] = untracked
    if drifted and checked == 0 and counts["missing"] == len(drifted):
        # Git has workflows and the runtime none: a deploy is needed, which is not drift.
        return Findings(
            "DEPLOY_MISSING",
            f"n8n runs none of the {len(drifted)} approved workflow(s): deploy them.",
            checked,
            [],
            untracked,
            counts,
        )
    if drifted:
        parts = [
            f"{n} {kind.replace('_', ' ')}"
            for kind, n in counts.items()
            if n and kind != "untracked"
        ]
        return Findings(
            "DRIFT_DETECTED",
            f"{len(drifted)} of {checked + counts['missing']} workflow(s) differ from Git: "
            + ", ".join(parts)
            + ".",
            checked,
            drifted,
            untracked,
            counts,
        )
    return Findings(
        "IN_SYNC",
        f"All {checked} linked workflow(s) match their approved copies"
        + (f"; {untracked} untracked." if untracked else "."),
        checked,
        [],
        untracked,
        counts,
    )


def _finding(row) -> dict[str, Any]:
    if row.n8n_workflow_id is None or row.status == "missing":
        kind = "missing"
    elif row.git_path is None:
        kind = "not_in_git"
    else:
        kind = "modified"
    return {
        "canonical_id": str(row.canonical_id),
        "n8n_workflow_id": row.n8n_workflow_id,
        "name": row.name,
        "kind": kind,
        "runtime_digest": row.env_content_hash if kind != "missing" else None,
        "approved_digest": row.git_content_hash,
        "git_path": row.git_path,
    }
