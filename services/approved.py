"""Approved copies: each environment's copy of each canonical workflow in Git, and the database
cache of it (workflow_git_state) that reads use so they never wait on Git.

Layout (README, "The repository people read"): in the environment's folder F,
``F/workflows/<canonical slug>.json`` is the approved copy; snapshot content that is not an
approved copy lives under ``F/snapshots/<snapshot id>/``.

    copies = approved.copies_for(env_id)                      # {canonical id: ApprovedCopy}
    files = approved.load_files(env, copies.values())         # {canonical id: WorkflowFile}
    result = approved.commit_approved(
        env, [approved.ApprovedChange(file)], operation="backup", message="Back up dev",
        user_id=..., job_id=..., links={"snapshot": ...}, extra_files={path: bytes},
        lease=ctx_lease,
    )

``commit_approved`` writes every change as ONE commit (services/git.commit_changes), with the
blobs the cache holds as expectations (a file someone else changed in Git meanwhile is a
GitConflict, never overwritten), then updates workflow_git_state and, for runtime copies now
aligned with the new approved copy, workflow_env_map.git_content_hash, in one transaction.
With ``then`` (ApprovedFollowUp) it also builds a second commit on top, in the same Git
process, without publishing it: ``result.pending``, which ``publish_approved`` publishes later
(None when the branch moved meanwhile: commit_approved then, checked again). A deployment
builds its approved copies with its pre-promotion snapshot this way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import Integer, Text, Uuid, bindparam, column, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.db import current_tenant, db
from models.environments import Environment
from models.workflows import WorkflowEnvMap, WorkflowGitState
from services import git, runtime_digest
from services.bulk import json_page
from services.errors import InvalidInput
from services.sync import MAX_CACHED_BYTES
from services.workflow_file import WorkflowFile, dump, parse

#: Called right before each external side effect of a job (a push): raises when the job's
#: lease is gone (jobs/lease.py).
LeaseCheck = Callable[[], None]

WORKFLOWS_DIR = "workflows"
SNAPSHOTS_DIR = "snapshots"


def approved_path(folder: str, slug: str) -> str:
    """Where an environment's approved copy of a canonical workflow lives."""
    return f"{folder}/{WORKFLOWS_DIR}/{slug}.json"


def snapshot_path(folder: str, snapshot_id: uuid.UUID, name: str) -> str:
    """Where a snapshot keeps a workflow that is not an approved copy (``name``: the canonical
    slug, or ``n8n-<id>`` for a workflow without a canonical id)."""
    return f"{folder}/{SNAPSHOTS_DIR}/{snapshot_id}/{name}.json"


@dataclass(frozen=True)
class ApprovedCopy:
    """An environment's approved copy of one canonical workflow, as the cache knows it."""

    canonical_id: uuid.UUID
    environment_id: uuid.UUID
    path: str
    commit: str | None
    blob_sha: str | None
    #: The semantic digest (the environment's credential keys, the tenant's ignore rules).
    digest: str | None
    #: The file's bytes; None when it is over the cache's size cap (load_files reads Git).
    content: bytes | None

    def file(self) -> WorkflowFile:
        """The parsed file (cached content only; see load_files)."""
        if self.content is None:
            raise LookupError(f"{self.path} is not cached; use approved.load_files")
        return parse(self.content, canonical_id=str(self.canonical_id))


_COPY_COLUMNS = (
    WorkflowGitState.canonical_id,
    WorkflowGitState.environment_id,
    WorkflowGitState.git_path,
    WorkflowGitState.last_commit_sha,
    WorkflowGitState.blob_sha,
    WorkflowGitState.git_content_hash,
    WorkflowGitState.file_content,
)


def copies_for(
    env_id: uuid.UUID, canonical_ids: Iterable[uuid.UUID] | None = None
) -> dict[uuid.UUID, ApprovedCopy]:
    """The environment's approved copies (all, or those of ``canonical_ids``), one query."""
    query = select(*_COPY_COLUMNS).where(WorkflowGitState.environment_id == env_id)
    if canonical_ids is not None:
        query = query.where(WorkflowGitState.canonical_id.in_(list(canonical_ids)))
    return {
        row.canonical_id: ApprovedCopy(
            row.canonical_id,
            row.environment_id,
            row.git_path,
            row.last_commit_sha,
            row.blob_sha,
            row.git_content_hash,
            row.file_content.encode() if row.file_content is not None else None,
        )
        for row in db.execute(query)
    }


def load_files(env: Environment, copies: Iterable[ApprovedCopy]) -> dict[uuid.UUID, WorkflowFile]:
    """The parsed files of approved copies: from the cache, else from Git at the commit the
    cache names (one read per commit). Raises InvalidWorkflowFile for a damaged file."""
    files: dict[uuid.UUID, WorkflowFile] = {}
    uncached: dict[str | None, list[ApprovedCopy]] = {}
    for copy in copies:
        if copy.content is not None:
            files[copy.canonical_id] = copy.file()
        else:
            uncached.setdefault(copy.commit, []).append(copy)
    if uncached:
        target = git.target_for(env)
        for commit, group in uncached.items():
            found = git.read_files(target, [c.path for c in group], ref=commit)
            for copy in group:
                blob = found[copy.path]
                if blob is None:
                    raise LookupError(f"{copy.path} is not in Git at {commit}")
                files[copy.canonical_id] = parse(blob.content, canonical_id=str(copy.canonical_id))
    return files


# --- committing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovedChange:
    """A new approved copy (``file``), or the removal of one (``file`` None, ``canonical_id``
    set). ``aligned``: the environment's linked runtime copy now runs exactly this (a deploy,
    a backup of DEV, keep-hotfix, onboarding), so its aligned digest moves with it."""

    file: WorkflowFile | None
    canonical_id: uuid.UUID | None = None
    aligned: bool = True

    @property
    def key(self) -> uuid.UUID:
        if self.file is not None:
            return uuid.UUID(self.file.canonical_id)
        if self.canonical_id is None:
            raise InvalidInput("A removal names its canonical id.", code="invalid_change")
        return self.canonical_id


@dataclass(frozen=True)
class ApprovedCommit:
    """What commit_approved did: the commit (head when nothing changed), and per canonical id
    the path and digest now approved. ``pending``: the follow-up built and not published."""

    sha: str | None
    created: bool
    paths: dict[uuid.UUID, str] = field(default_factory=dict)
    digests: dict[uuid.UUID, str] = field(default_factory=dict)
    extra_paths: tuple[str, ...] = ()
    pending: PendingApproval | None = None


@dataclass(frozen=True)
class ApprovedFollowUp:
    """Approved copies to build on top of a commit_approved commit, published later by
    publish_approved (a deployment's, once it succeeded)."""

    changes: Sequence[ApprovedChange]
    operation: str
    message: str
    user_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    links: Mapping[str, object] | None = None
    #: The environment's approved copies of these workflows and its digest context as the
    #: caller read them moments ago (a deployment's plan); None: read them here.
    cached: Mapping[uuid.UUID, ApprovedCopy] | None = None
    context: runtime_digest.DigestContext | None = None


@dataclass(frozen=True)
class _ChangeSet:
    """Approved changes as Git sees them: path -> content, the blobs the cache holds as
    expectations, and per canonical id the path and new digest."""

    changes: Sequence[ApprovedChange]
    files: dict[str, bytes | None]
    expected: dict[str, str | None]
    paths: dict[uuid.UUID, str]
    digests: dict[uuid.UUID, str]


@dataclass(frozen=True)
class PendingApproval:
    """An ApprovedFollowUp built into a commit that is not published yet."""

    staged: git.StagedCommit
    change_set: _ChangeSet


def commit_approved(
    env: Environment,
    changes: Sequence[ApprovedChange],
    *,
    operation: str,
    message: str,
    user_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    links: Mapping[str, object] | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    lease: LeaseCheck | None = None,
    then: ApprovedFollowUp | None = None,
) -> ApprovedCommit:
    """Commit new approved copies (and ``extra_files``, e.g. snapshot content) for one
    environment as one commit, then bring the cache up to date in one transaction.
    ``then``: more approved copies built on top in the same Git process, left unpublished
    (``pending``; publish_approved)."""
    target = git.target_for(env)
    change_set = _change_set(env, target, changes)
    follow = _change_set(env, target, then.changes, then.cached, then.context) if then else None
    extra = dict(extra_files or {})
    if lease is not None:
        lease()
    result = git.commit_changes(
        target,
        changes={**change_set.files, **extra},
        expected=change_set.expected,
        message=message,
        operation=operation,
        author=git.author_for_user(user_id) if user_id else None,
        job_id=job_id,
        links=links,
        then=git.FollowUp(
            changes=follow.files,
            message=then.message,
            operation=then.operation,
            author=git.author_for_user(then.user_id) if then.user_id else None,
            job_id=then.job_id,
            links=then.links,
            expected=follow.expected,
        )
        if then and follow
        else None,
    )
    committed = _recorded(env.id, change_set, result, extra)
    if follow and result.staged:
        return replace(committed, pending=PendingApproval(result.staged, follow))
    return committed


def publish_approved(
    env: Environment, pending: PendingApproval, *, lease: LeaseCheck | None = None
) -> ApprovedCommit | None:
    """Publish a pending follow-up and bring the cache up to date; None when the branch moved
    since it was built (commit the changes with commit_approved: they are checked again)."""
    if lease is not None:
        lease()
    result = git.publish_staged(git.target_for(env), pending.staged)
    return _recorded(env.id, pending.change_set, result, {}) if result else None


def _change_set(
    env: Environment,
    target: git.GitTarget,
    changes: Sequence[ApprovedChange],
    cached: Mapping[uuid.UUID, ApprovedCopy] | None = None,
    ctx: runtime_digest.DigestContext | None = None,
) -> _ChangeSet:
    keys = [change.key for change in changes]
    if len(set(keys)) != len(keys):
        raise InvalidInput(
            "A canonical workflow appears twice in one commit.", code="invalid_change"
        )
    # Extra files alone (a snapshot) need neither the cache nor a digest context.
    if cached is None:
        cached = copies_for(env.id, keys) if keys else {}
    if ctx is None and keys:
        ctx = runtime_digest.context_for(env.id)
    files: dict[str, bytes | None] = {}
    expected: dict[str, str | None] = {}
    paths: dict[uuid.UUID, str] = {}
    digests: dict[uuid.UUID, str] = {}
    for change, key in zip(changes, keys, strict=True):
        copy = cached.get(key)
        if change.file is None:
            if copy is None:
                continue
            paths[key] = copy.path
            files[copy.path] = None
        else:
            paths[key] = copy.path if copy else approved_path(target.folder, change.file.slug)
            files[paths[key]] = dump(change.file)
            digests[key] = ctx.file(change.file)
        if copy is None or copy.blob_sha:
            # What the cache says Git holds: someone else's change since is a conflict.
            expected[paths[key]] = copy.blob_sha if copy else None
    return _ChangeSet(changes, files, expected, paths, digests)


def _recorded(
    env_id: uuid.UUID, change_set: _ChangeSet, result: git.CommitResult, extra: Mapping
) -> ApprovedCommit:
    """The cache after ``result`` committed ``change_set`` (one transaction)."""
    paths, digests = change_set.paths, change_set.digests
    removed = [change.key for change in change_set.changes if change.file is None]
    states = [
        state_row(
            key,
            paths[key],
            change_set.files[paths[key]],
            digest,
            blob=result.blobs.get(paths[key]),
            commit=result.sha,
        )
        for key, digest in digests.items()
    ]
    aligned = [
        {"canonical_id": str(change.key), "hash": digests[change.key]}
        for change in change_set.changes
        if change.file is not None and change.aligned
    ]
    _record(env_id, removed, states, aligned)
    return ApprovedCommit(result.sha, result.created, paths, digests, tuple(sorted(extra)))


def _record(
    env_id: uuid.UUID, removed: list[uuid.UUID], states: list[dict], aligned: list[dict]
) -> None:
    """The cache after a commit, in one transaction."""
    if removed:
        db.execute(
            delete(WorkflowGitState).where(
                WorkflowGitState.environment_id == env_id,
                WorkflowGitState.canonical_id.in_(removed),
            )
        )
    upsert_states(env_id, states)
    if aligned:
        db.execute(_ALIGN, {"env_id": env_id, "rows": aligned})
    db.commit()


def state_row(
    canonical_id: uuid.UUID,
    path: str,
    content: bytes,
    digest: str,
    *,
    blob: str | None,
    commit: str | None,
) -> dict:
    """One workflow_git_state row for upsert_states (content cached up to the size cap)."""
    return {
        "canonical_id": str(canonical_id),
        "git_path": path,
        "last_commit_sha": commit,
        "blob_sha": blob,
        "git_content_hash": digest,
        "file_content": content.decode() if len(content) <= MAX_CACHED_BYTES else None,
        "content_bytes": len(content),
    }


_STATES = json_page(
    column("canonical_id", Uuid),
    column("git_path", Text),
    column("last_commit_sha", Text),
    column("blob_sha", Text),
    column("git_content_hash", Text),
    column("file_content", Text),
    column("content_bytes", Integer),
)
_STATE_COLUMNS = [c.name for c in _STATES.c]


def _upsert_states_statement():
    table = WorkflowGitState.__table__
    source = select(
        bindparam("tenant_id"), bindparam("env_id"), *_STATES.c, func.now()
    ).select_from(_STATES)
    # Python-side defaults (a uuid4 for id) would be one value for every row.
    insert = pg_insert(table).from_select(
        ["tenant_id", "environment_id", *_STATE_COLUMNS, "last_synced_at"],
        source,
        include_defaults=False,
    )
    new = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=["tenant_id", "canonical_id", "environment_id"],
        set_={name: new[name] for name in [*_STATE_COLUMNS[1:], "last_synced_at"]}
        | {"updated_at": func.now()},
    )


_UPSERT_STATES = _upsert_states_statement()

_ALIGNED = json_page(column("canonical_id", Uuid), column("hash", Text))
_ALIGN = (
    update(WorkflowEnvMap)
    .where(
        WorkflowEnvMap.environment_id == bindparam("env_id"),
        WorkflowEnvMap.canonical_id == _ALIGNED.c.canonical_id,
        # A deploy recorded it already: no needless new version of the row.
        WorkflowEnvMap.git_content_hash.is_distinct_from(_ALIGNED.c.hash),
    )
    .values(git_content_hash=_ALIGNED.c.hash, updated_at=func.now())
)


def upsert_states(env_id: uuid.UUID, rows: list[dict]) -> None:
    """Insert or replace an environment's workflow_git_state rows (``state_row``) in one
    statement, in the caller's transaction; repo sync uses it too."""
    if rows:
        params = {"tenant_id": current_tenant(), "env_id": env_id, "rows": rows}
        db.execute(_UPSERT_STATES, params)
