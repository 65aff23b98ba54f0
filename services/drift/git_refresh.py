"""Bring an environment's approved-copy cache (workflow_git_state) in step with Git's head
before a drift check compares against it: someone may have committed to the repository
directly. One listing without contents (two git processes), then only the files whose blob id
differs from the cached one are read and digested; files gone from Git leave the cache.

    refresh(env) -> Refreshed(commit, files, read, removed, invalid)

Git's errors (services.git.errors) propagate: the check turns them into GIT_UNAVAILABLE.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from models.db import db
from models.environments import Environment
from models.workflows import WorkflowGitState
from services import approved, git, runtime_digest
from services.workflow_file import InvalidWorkflowFile, parse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refreshed:
    """What the refresh found at Git's head."""

    #: The head commit (None: the branch has no commit yet).
    commit: str | None
    #: Approved copies in Git now.
    files: int
    #: Files read because their blob changed (or were new to the cache).
    read: int
    removed: int
    #: Paths whose content is not a workflow file (left out of the comparison).
    invalid: list[str] = field(default_factory=list)


def refresh(env: Environment) -> Refreshed:
    """Update the environment's workflow_git_state from Git's head (in the caller's
    transaction, not committed)."""
    target = git.target_for(env)
    folder = f"{target.folder}/{approved.WORKFLOWS_DIR}"
    listing = git.list_files(target, folder, contents=False)
    present = {f.path: f.blob_sha for f in listing.files if f.path.endswith(".json")}
    cached = dict(
        db.execute(
            select(WorkflowGitState.git_path, WorkflowGitState.blob_sha).where(
                WorkflowGitState.environment_id == env.id
            )
        ).all()
    )
    changed = sorted(path for path, blob in present.items() if cached.get(path) != blob)
    gone = sorted(set(cached) - set(present))
    rows, invalid = _read(env, target, changed, listing.commit) if changed else ([], [])
    if gone:
        db.execute(
            delete(WorkflowGitState).where(
                WorkflowGitState.environment_id == env.id, WorkflowGitState.git_path.in_(gone)
            )
        )
    approved.upsert_states(env.id, rows)
    return Refreshed(listing.commit, len(present), len(changed), len(gone), invalid)


def _read(
    env: Environment, target: git.GitTarget, paths: list[str], commit: str | None
) -> tuple[list[dict], list[str]]:
    ctx = runtime_digest.context_for(env.id)
    rows: dict[str, dict] = {}
    invalid: list[str] = []
    for path, blob in git.read_files(target, paths, ref=commit).items():
        if blob is None:
            continue
        try:
            file = parse(blob.content)
            canonical_id = uuid.UUID(file.canonical_id)
        except (InvalidWorkflowFile, ValueError, TypeError):
            log.warning("environment %s: %s is not a workflow file; left out", env.id, path)
            invalid.append(path)
            continue
        # Two files claiming one canonical workflow: the first path (sorted) wins.
        rows.setdefault(
            str(canonical_id),
            approved.state_row(
                canonical_id,
                path,
                blob.content,
                ctx.file(file),
                blob=blob.blob_sha,
                commit=commit,
            ),
        )
    return list(rows.values()), invalid
