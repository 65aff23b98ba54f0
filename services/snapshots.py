"""Backups: an environment's workflows (all, or some) committed to Git as one commit, with a
snapshots row (manual_backup) that names the commit and every file.

    snapshots.backup(env_id, n8n_ids=None, snapshot_id=job_id, lease=..., user_id=...)

What goes where (README, "Snapshots"): in a DEV environment a linked workflow's file is its
approved copy (``F/workflows/<slug>.json``: DEV's runtime is its truth); anything else (an
unmanaged workflow, a snapshot-only one) goes under ``F/snapshots/<snapshot id>/``, named by
its canonical slug or ``n8n-<n8n id>``, with the snapshot's ``manifest.json`` beside it. The
snapshot id is the job's id, so a retried job writes the same commit and the same row.
Restores read these files back (services/restore.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import orjson
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.db import db
from models.snapshots import Snapshot
from models.workflows import CanonicalWorkflow
from services import approved, canonicals, entitlements, env_links, environments, git, sync
from services.errors import NotFound, PolicyBlocked
from services.progress import Progress, no_progress
from services.rows import get_or_404
from services.runtime_copies import PRESENT_STATUSES, fill_definitions, rows
from services.workflow_file import InvalidWorkflowFile, dump, from_n8n

LeaseCheck = Callable[[], None]
MANIFEST = "manifest.json"


def backup(
    env_id: uuid.UUID,
    *,
    snapshot_id: uuid.UUID,
    n8n_ids: list[str] | None = None,
    refresh: bool = True,
    user_id: uuid.UUID | None = None,
    lease: LeaseCheck | None = None,
    progress: Progress = no_progress,
) -> dict:
    """Back up the environment's workflows (``n8n_ids``: only those; ignored workflows only
    when named) as one commit and a snapshots row. ``refresh``: sync from n8n first, so the
    backup is what runs now."""
    env = environments.get(env_id)
    if refresh:
        progress(message="reading n8n")
        sync.sync_workflows(env.id)
    statuses = PRESENT_STATUSES if n8n_ids else ("linked", "untracked")
    copies = rows(env.id, n8n_ids=n8n_ids, statuses=statuses)
    gone = fill_definitions(env, copies)
    copies = [c for c in copies if c not in gone]
    target = git.target_for(env)
    refs = env_links.links_for(env.id)
    slugs = dict(db.execute(select(CanonicalWorkflow.id, CanonicalWorkflow.canonical_slug)).all())
    changes, extra, entries, invalid = [], {}, [], []
    for done, copy in enumerate(copies):
        progress(current=done, total=len(copies), message="writing files")
        approved_copy = copy.canonical_id is not None and env.environment_class == "dev"
        key = slugs[copy.canonical_id] if copy.canonical_id else f"n8n-{copy.n8n_id}"
        try:
            file = from_n8n(
                copy.definition,
                canonical_id=str(copy.canonical_id) if copy.canonical_id else key,
                slug=slugs.get(copy.canonical_id) or canonicals.slugify(copy.name or key),
                workflow_ref=refs.workflow_ref,
            )
        except InvalidWorkflowFile as error:
            invalid.append({"n8n_id": copy.n8n_id, "name": copy.name, "error": str(error)})
            continue
        if approved_copy:
            changes.append(approved.ApprovedChange(file))
            path = None
        else:
            path = approved.snapshot_path(target.folder, snapshot_id, key)
            extra[path] = dump(file)
        entries.append(
            {
                "n8n_id": copy.n8n_id,
                "canonical_id": str(copy.canonical_id) if copy.canonical_id else None,
                "name": copy.name,
                "path": path,
                "active": file.active,
            }
        )
    manifest_path = approved.snapshot_path(target.folder, snapshot_id, "manifest")
    extra[manifest_path] = _manifest(env, snapshot_id, entries)
    result = approved.commit_approved(
        env,
        changes,
        operation="backup",
        message=f"Back up {len(entries)} workflows of {env.name}",
        user_id=user_id,
        job_id=snapshot_id,
        links={"snapshot": snapshot_id},
        extra_files=extra,
        lease=lease,
    )
    for entry in entries:
        if entry["path"] is None:
            canonical = uuid.UUID(entry["canonical_id"])
            entry["path"] = result.paths[canonical]
            entry["digest"] = result.digests[canonical]
    db.execute(
        pg_insert(Snapshot)
        .values(
            id=snapshot_id,
            environment_id=env.id,
            snapshot_type="manual_backup",
            workflows=entries,
            git_commit_sha=result.sha,
            created_by=user_id,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    db.commit()
    return {
        "snapshot_id": str(snapshot_id),
        "commit": result.sha,
        "workflows": len(entries),
        "approved_copies": len(changes),
        "invalid": invalid,
    }


def require_entitlement() -> None:
    """Backups and restores are a plan feature (``snapshots_enabled``); 403 without it."""
    if not entitlements.resolve()["features"].get("snapshots_enabled"):
        raise PolicyBlocked(
            "Snapshots (backups and restores) are not part of your plan; upgrade to use them.",
            code="feature_not_entitled",
            feature="snapshots_enabled",
        )


def _manifest(env, snapshot_id: uuid.UUID, entries: list[dict]) -> bytes:
    """The snapshot's manifest: what it holds, readable in Git without the database."""
    body = {
        "snapshot_id": str(snapshot_id),
        "kind": "backup",
        "environment": {"id": str(env.id), "name": env.name, "class": env.environment_class},
        "workflows_count": len(entries),
        "workflows": [{k: v for k, v in e.items() if k != "path"} for e in entries],
    }
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def get(env_id: uuid.UUID, snapshot_id: uuid.UUID) -> Snapshot:
    snapshot = get_or_404(Snapshot, snapshot_id, "No such snapshot.")
    if snapshot.environment_id != env_id:
        raise NotFound("No such snapshot.")
    return snapshot


def list_query(env_id: uuid.UUID):
    environments.get(env_id)
    return (
        select(Snapshot)
        .where(Snapshot.environment_id == env_id)
        .order_by(Snapshot.created_at.desc(), Snapshot.id)
    )
