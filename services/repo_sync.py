"""Repo sync (Git -> database): bring each environment's approved-copy cache
(workflow_git_state) up to what its Git folder holds now, so edits people made in Git are
seen by the matrix, drift and deploys.

    repo_sync.sync_environment(env_id)     # one environment's folder
    repo_sync.sync_tenant(progress=...)    # every environment of the tenant

Files are listed without contents and compared by Git's blob id with the cache: unchanged
ones are skipped without being read. A changed or new file is parsed; an invalid one is
reported with every problem and skipped, the rest go on. A file naming a canonical workflow
the tenant does not have creates it (the file's id and slug); a file that disappeared from
Git drops its cache row (the approved copy was removed). Runtime links are not touched: a
runtime copy aligned with the old approved copy now shows as out of date.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select

from models.db import db
from models.environments import Environment
from models.workflows import CanonicalWorkflow, WorkflowGitState
from services import approved, canonicals, environments, git, runtime_digest
from services.progress import Progress, no_progress
from services.workflow_file import InvalidWorkflowFile, WorkflowFile, parse


def sync_tenant(*, progress: Progress = no_progress) -> dict:
    """Repo sync of every environment of the tenant; one report per environment."""
    env_ids = list(db.scalars(select(Environment.id).order_by(Environment.name)))
    reports = []
    for done, env_id in enumerate(env_ids):
        progress(current=done, total=len(env_ids), message="reading Git")
        reports.append(sync_environment(env_id))
    return {
        "environments": reports,
        "totals": {
            key: sum(len(r[key]) if isinstance(r[key], list) else r[key] for r in reports)
            for key in ("unchanged", "updated", "added", "removed", "invalid")
        },
    }


def sync_environment(env_id: uuid.UUID) -> dict:
    """Repo sync of one environment's folder (see the module's docstring); commits."""
    env = environments.get(env_id)
    target = git.target_for(env)
    folder = f"{target.folder}/{approved.WORKFLOWS_DIR}"
    listing = git.list_files(target, folder, contents=False)
    cached = {
        row.git_path: row
        for row in db.execute(
            select(
                WorkflowGitState.git_path,
                WorkflowGitState.canonical_id,
                WorkflowGitState.blob_sha,
            ).where(WorkflowGitState.environment_id == env.id)
        )
    }
    present = {f.path: f.blob_sha for f in listing.files if f.path.endswith(".json")}
    changed = [p for p, blob in present.items() if p not in cached or cached[p].blob_sha != blob]
    report = {
        "environment_id": str(env.id),
        "commit": listing.commit,
        "unchanged": len(present) - len(changed),
        "updated": [],
        "added": [],
        "removed": [],
        "invalid": [],
    }
    files = _parse(target, changed, listing.commit, report)
    known = set(db.scalars(select(CanonicalWorkflow.id)))
    missing = [f for f, _ in files.values() if uuid.UUID(f.canonical_id) not in known]
    canonicals.create_many(
        canonicals.NewCanonical(f.name, canonical_id=uuid.UUID(f.canonical_id), slug=f.slug)
        for f in missing
    )
    ctx = runtime_digest.context_for(env.id)
    states = []
    for path, (file, content) in files.items():
        key = "updated" if path in cached else "added"
        report[key].append({"path": path, "canonical_id": file.canonical_id})
        states.append(
            approved.state_row(
                uuid.UUID(file.canonical_id),
                path,
                content,
                ctx.file(file),
                blob=present[path],
                commit=listing.commit,
            )
        )
    gone = [row for path, row in cached.items() if path not in present]
    moved = {uuid.UUID(f.canonical_id) for f, _ in files.values()}
    dropped = [row.canonical_id for row in gone if row.canonical_id not in moved]
    if dropped:
        db.execute(
            delete(WorkflowGitState).where(
                WorkflowGitState.environment_id == env.id,
                WorkflowGitState.canonical_id.in_(dropped),
            )
        )
    report["removed"] = [{"path": r.git_path, "canonical_id": str(r.canonical_id)} for r in gone]
    approved.upsert_states(env.id, states)
    db.commit()
    return report


def _parse(
    target: git.GitTarget, paths: list[str], commit: str | None, report: dict
) -> dict[str, tuple[WorkflowFile, bytes]]:
    """The valid files among ``paths`` at ``commit`` with their bytes; the others go to
    report["invalid"]."""
    if not paths:
        return {}
    found = git.read_files(target, paths, ref=commit)
    files: dict[str, tuple[WorkflowFile, bytes]] = {}
    seen: dict[str, str] = {}
    for path in paths:
        blob = found[path]
        try:
            file = parse(blob.content)
            uuid.UUID(file.canonical_id)
        except InvalidWorkflowFile as error:
            report["invalid"].append({"path": path, "errors": [str(e) for e in error.errors]})
            continue
        except ValueError:
            report["invalid"].append(
                {"path": path, "errors": ["$['n8n-ops'].canonicalId: must be a UUID here"]}
            )
            continue
        if file.canonical_id in seen:
            report["invalid"].append(
                {
                    "path": path,
                    "errors": [f"names the same canonical workflow as {seen[file.canonical_id]}"],
                }
            )
            continue
        seen[file.canonical_id] = path
        files[path] = (file, blob.content)
    return files
