"""Restore an environment, or some of its workflows, from a snapshot or from any commit, and
read a workflow's history from Git.

    restore.restore(env_id, snapshot_id=..., lease=...)              # the snapshot's files
    restore.restore(env_id, commit=sha, canonical_ids=[...])         # approved copies at sha
    restore.history(canonical_id, env_id, limit=50, skip=0)          # commits touching it
    restore.content(canonical_id, env_id, commit)                    # the file at a commit

Every file is written through the deploy writer (services/deploy.py): a workflow that still
exists is updated in place (same n8n id, so its webhook URLs survive), only a workflow n8n no
longer has is created; the lease is checked before each write. A file the environment cannot
take (an unresolved credential) is reported and the rest go on. The approved copies in Git
stay as they are: restoring an older version shows as out of date in the matrix.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select

from models.db import db
from models.environments import Environment
from models.workflows import CanonicalWorkflow, WorkflowGitState
from services import approved, canonicals, deploy, environments, git, snapshots
from services.errors import InvalidInput, NotFound
from services.progress import Progress, no_progress
from services.workflow_file import InvalidWorkflowFile, WorkflowFile, parse

LeaseCheck = Callable[[], None]


def restore(
    env_id: uuid.UUID,
    *,
    snapshot_id: uuid.UUID | None = None,
    commit: str | None = None,
    canonical_ids: list[uuid.UUID] | None = None,
    n8n_ids: list[str] | None = None,
    lease: LeaseCheck | None = None,
    progress: Progress = no_progress,
) -> dict:
    """Write the chosen files into the environment (see the module's docstring)."""
    if (snapshot_id is None) == (commit is None):
        raise InvalidInput("Restore from a snapshot or from a commit.", code="invalid_source")
    env = environments.get(env_id)
    if snapshot_id is not None:
        files, problems = _from_snapshot(env, snapshot_id, canonical_ids, n8n_ids)
    else:
        files, problems = _from_commit(env, commit, canonical_ids)
    outcomes = []
    with environments.n8n_session(env) as client:
        writer = deploy.EnvironmentWriter(env, client, lease=lease)
        for done, (file, n8n_id) in enumerate(files):
            progress(current=done, total=len(files), message=f"restoring {file.name}")
            try:
                if n8n_id is None:
                    outcome = writer.write(file)
                else:
                    outcome = writer.write(file, n8n_id=n8n_id, link=False)
            except deploy.DeployRefused as error:
                problems.append({"name": file.name, "error": error.message, **error.details})
                continue
            outcomes.append({"name": file.name, **outcome.as_dict()})
        writer.finish()
    return {
        "environment_id": str(env.id),
        "source": {"snapshot_id": str(snapshot_id) if snapshot_id else None, "commit": commit},
        "created": sum(o["action"] == "created" for o in outcomes),
        "updated": sum(o["action"] == "updated" for o in outcomes),
        "workflows": outcomes,
        "failed": problems,
    }


def _from_snapshot(
    env: Environment,
    snapshot_id: uuid.UUID,
    canonical_ids: list[uuid.UUID] | None,
    n8n_ids: list[str] | None,
) -> tuple[list[tuple[WorkflowFile, str | None]], list[dict]]:
    snapshot = snapshots.get(env.id, snapshot_id)
    wanted = [
        e
        for e in snapshot.workflows
        if (canonical_ids is None and n8n_ids is None)
        or (canonical_ids and e["canonical_id"] in {str(c) for c in canonical_ids})
        or (n8n_ids and e["n8n_id"] in n8n_ids)
    ]
    if not wanted:
        raise NotFound("The snapshot holds none of these workflows.")
    target = git.target_for(env)
    found = git.read_files(target, [e["path"] for e in wanted], ref=snapshot.git_commit_sha)
    files, problems = [], []
    for entry in wanted:
        blob = found[entry["path"]]
        try:
            file = parse(blob.content if blob else b"")
        except InvalidWorkflowFile as error:
            problems.append({"name": entry["name"], "path": entry["path"], "error": str(error)})
            continue
        # A canonical workflow's file is restored as its linked copy; any other in place.
        linked = entry["canonical_id"] is not None and _is_canonical(file.canonical_id)
        files.append((file, None if linked else entry["n8n_id"]))
    return files, problems


def _from_commit(
    env: Environment, commit: str | None, canonical_ids: list[uuid.UUID] | None
) -> tuple[list[tuple[WorkflowFile, str | None]], list[dict]]:
    """The environment's approved copies at ``commit`` (or those of ``canonical_ids``)."""
    target = git.target_for(env)
    listing = git.list_files(target, f"{target.folder}/{approved.WORKFLOWS_DIR}", ref=commit)
    wanted = {str(c) for c in canonical_ids} if canonical_ids else None
    files, problems = [], []
    for found in listing.files:
        try:
            file = parse(found.content)
        except InvalidWorkflowFile as error:
            problems.append({"path": found.path, "error": str(error)})
            continue
        if wanted is None or file.canonical_id in wanted:
            files.append((file, None))
    if wanted and not files:
        raise NotFound("These workflows have no approved copy at that commit.")
    return files, problems


def _is_canonical(value: str) -> bool:
    try:
        return db.get(CanonicalWorkflow, uuid.UUID(value)) is not None
    except ValueError:
        return False


# --- history ---------------------------------------------------------------------------------


def path_of(canonical_id: uuid.UUID, env: Environment) -> tuple[git.GitTarget, str]:
    """Where the environment's approved copy of the canonical workflow lives in Git."""
    canonical = canonicals.get(canonical_id)
    target = git.target_for(env)
    cached = db.scalar(
        select(WorkflowGitState.git_path).where(
            WorkflowGitState.canonical_id == canonical.id,
            WorkflowGitState.environment_id == env.id,
        )
    )
    return target, cached or approved.approved_path(target.folder, canonical.canonical_slug)


def history(
    canonical_id: uuid.UUID, env_id: uuid.UUID, *, limit: int = 50, skip: int = 0
) -> list[dict]:
    """Commits touching the workflow's file in the environment's folder, newest first."""
    env = environments.get(env_id)
    target, path = path_of(canonical_id, env)
    return [
        {
            "sha": c.sha,
            "subject": c.subject,
            "message": c.message,
            "author_name": c.author_name,
            "author_email": c.author_email,
            "authored_at": c.authored_at,
            "committed_at": c.committed_at,
            "operation": c.operation,
            "job_id": c.job_id,
            "user_id": c.user_id,
            "links": c.links,
            "path": path,
        }
        for c in git.history(target, path, limit=limit, skip=skip)
    ]


def content(canonical_id: uuid.UUID, env_id: uuid.UUID, commit: str) -> dict:
    """The workflow's file in the environment's folder at ``commit``."""
    env = environments.get(env_id)
    target, path = path_of(canonical_id, env)
    found = git.read_file(target, path, ref=commit)
    if found is None:
        raise NotFound("The workflow has no file at that commit.", path=path)
    return {"path": path, "commit": commit, "blob_sha": found.blob_sha, "content": found.content}
