"""Reading and committing: the operations every Git-backed feature goes through.

See the package docstring (``services/git/__init__.py``) for the contract of each function.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from models.db import db
from models.tenancy import User
from services import config
from services.errors import InvalidInput
from services.git import store
from services.git.errors import FileConflict, GitBusy, GitConflict, GitRefNotFound
from services.git.lock import repository_lock
from services.git.store import Identity, Workspace
from services.git.target import GitTarget, check_path
from services.git.transport import remote_session

log = logging.getLogger(__name__)

#: Who commits: the platform. The author is the user who asked for the change.
PLATFORM = Identity("n8n-ops", "n8n-ops@noreply.invalid")
#: Pushes tried per commit when other writers keep moving the branch.
MAX_PUSH_ATTEMPTS = 5
#: Seconds to wait before retrying a push that lost a race, times the attempt number.
RETRY_DELAY_S = 0.2
#: Commits a history call returns at most.
MAX_HISTORY = 500

TRAILER_PREFIX = "N8n-Ops-"
_LINK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$")
_COMMIT_ID = re.compile(r"^[0-9a-f]{4,64}$")
_BLOB_ID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


@dataclass(frozen=True)
class GitFile:
    """A file at a commit: its path from the repository root, blob id and bytes (None when
    listed without contents)."""

    path: str
    blob_sha: str
    content: bytes | None = None


@dataclass(frozen=True)
class Listing:
    """The files of a folder at one commit (None: the branch has no commit yet)."""

    commit: str | None
    files: list[GitFile]


@dataclass(frozen=True)
class CommitInfo:
    """A commit as people read it, with its trailers parsed by git."""

    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    authored_at: datetime
    committer_name: str
    committer_email: str
    committed_at: datetime
    message: str
    #: Trailer key (as written) -> values, in order.
    trailers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    def trailer(self, key: str) -> str | None:
        values = self.trailers.get(key)
        return values[-1] if values else None

    @property
    def operation(self) -> str | None:
        return self.trailer(f"{TRAILER_PREFIX}Operation")

    @property
    def job_id(self) -> str | None:
        return self.trailer(f"{TRAILER_PREFIX}Job")

    @property
    def user_id(self) -> str | None:
        return self.trailer(f"{TRAILER_PREFIX}User")

    @property
    def links(self) -> dict[str, str]:
        """The ``links`` given to commit_changes: {"promotion": "...", ...}."""
        standard = {"operation", "job", "user", "environment"}
        found = {}
        for key, values in self.trailers.items():
            if key.startswith(TRAILER_PREFIX) and values:
                name = key.removeprefix(TRAILER_PREFIX).lower()
                if name not in standard:
                    found[name] = values[-1]
        return found


@dataclass(frozen=True)
class CommitResult:
    """What commit_changes did. ``sha`` is the branch head afterwards: the new commit, or the
    unchanged head when every change was already in place (``created`` False)."""

    sha: str | None
    created: bool
    parent: str | None
    changed_paths: tuple[str, ...] = ()
    attempts: int = 1
    #: Git's blob id of each path the change set wrote (not of deletions): what ``sha`` holds
    #: there, whether this commit wrote it or it was in place already.
    blobs: Mapping[str, str] = field(default_factory=dict)
    #: The follow-up, built on ``sha`` (None: none asked, or it conflicts or changes nothing
    #: there, or this commit was not built: commit it the ordinary way).
    staged: StagedCommit | None = None


@dataclass(frozen=True)
class FollowUp:
    """A second change set for commit_changes to build on top of its commit, in the same
    process, and leave unpublished until publish_staged (what a deployment approves once it
    succeeded, built with its snapshot). Same meaning of each field as commit_changes'."""

    changes: Mapping[str, bytes | str | None]
    message: str
    operation: str
    author: Identity | None = None
    job_id: uuid.UUID | None = None
    links: Mapping[str, object] | None = None
    expected: Mapping[str, str | None] | None = None


@dataclass(frozen=True)
class StagedCommit:
    """A follow-up built on ``parent`` (the commit published with it) and not published."""

    sha: str
    parent: str
    changed_paths: tuple[str, ...]
    blobs: Mapping[str, str]


# --- opening a repository -----------------------------------------------------------------


@contextmanager
def _open(target: GitTarget, *, locked: bool) -> Iterator[Workspace]:
    env = store.local_env()
    lock = repository_lock(target.lock_name) if locked else nullcontext()
    if target.remote is None:
        git_dir = store.root() / "embedded" / f"{target.tenant_id}.git"
        with lock:
            store.ensure_repository(git_dir, env, branch=target.branch)
            yield Workspace(git_dir, target.branch, env)
        return
    git_dir = store.root() / "cache" / str(target.tenant_id) / f"{target.cache_name}.git"
    allow_private = config.current().allow_private_networks
    with lock, remote_session(target.remote, target.credentials, allow_private=allow_private) as s:
        store.ensure_repository(git_dir, env)
        yield Workspace(git_dir, target.branch, env, s)


@contextmanager
def _at(target: GitTarget, ref: str | None) -> Iterator[tuple[Workspace, str | None]]:
    """A workspace and the commit ``ref`` names: None means the branch head, fetched now
    (None again when the branch has no commit yet); a commit id is found locally, else
    fetched once. Only fetching holds the lock: objects are read beside other processes
    (a commit's objects never change, and nothing young is pruned)."""
    if ref is not None and not _COMMIT_ID.match(ref):
        raise InvalidInput(f"{ref!r} is not a commit id.", code="invalid_git_ref")
    with _open(target, locked=False) as ws:
        if ref is None:
            yield ws, _refresh(target, ws)
            return
        try:
            commit = store.resolve_commit(ws, ref)
        except GitRefNotFound:
            if target.remote is None:
                raise
            _refresh(target, ws)
            commit = store.resolve_commit(ws, ref)
        yield ws, commit


def _refresh(target: GitTarget, ws: Workspace) -> str | None:
    if target.remote is None:
        return store.refresh(ws)  # reading a ref of the embedded repository needs no turn
    with repository_lock(target.lock_name):
        return store.refresh(ws)


# --- reads ----------------------------------------------------------------------------------


def head(target: GitTarget) -> str | None:
    """The branch's head commit now (fetched); None while the branch has no commit."""
    with _at(target, None) as (_, commit):
        return commit


def list_files(
    target: GitTarget, folder: str | None = None, *, ref: str | None = None, contents: bool = True
) -> Listing:
    """Every file under ``folder`` (default: the target's folder; "" the whole repository)
    at ``ref`` (default: the head, fetched now), with contents unless ``contents`` is False.
    Two git processes whatever the number of files."""
    folder = target.folder if folder is None else folder.strip("/")
    if folder:
        check_path(folder, what="folder")
    with _at(target, ref) as (ws, commit):
        if commit is None:
            return Listing(None, [])
        entries = store.list_tree(ws, commit, folder)
        if not contents:
            return Listing(commit, [GitFile(path, sha) for path, sha in entries])
        blobs = store.read_objects(ws, (sha for _, sha in entries))
        files = [
            GitFile(path, sha, blob[1] if blob else b"")
            for (path, sha), blob in zip(entries, blobs, strict=True)
        ]
        return Listing(commit, files)


def read_files(
    target: GitTarget, paths: list[str], *, ref: str | None = None
) -> dict[str, GitFile | None]:
    """The given files (paths from the repository root) at ``ref`` (default: the head,
    fetched now); None for a path with no file. Two git processes for any number."""
    paths = [check_path(p) for p in paths]
    with _at(target, ref) as (ws, commit):
        ids = store.object_ids(ws, commit, paths)
        present = [(path, sha) for path, sha in ids.items() if sha]
        blobs = store.read_objects(ws, (sha for _, sha in present))
    found: dict[str, GitFile | None] = dict.fromkeys(paths)
    for (path, sha), blob in zip(present, blobs, strict=True):
        found[path] = GitFile(path, sha, blob[1] if blob else b"")
    return found


def read_file(target: GitTarget, path: str, *, ref: str | None = None) -> GitFile | None:
    """One file at ``ref`` (default: the head, fetched now), or None."""
    return read_files(target, [path], ref=ref)[path]


_LOG_FORMAT = (
    "%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%cn%x1f%ce%x1f%ct%x1f"
    "%(trailers:only,unfold,separator=%x1e)%x1f%B"
)


def history(
    target: GitTarget,
    path: str | None = None,
    *,
    ref: str | None = None,
    limit: int = 50,
    skip: int = 0,
) -> list[CommitInfo]:
    """Commits touching ``path`` (a file or folder; default: the target's folder; "" any),
    newest first, from ``ref`` (default: the head, fetched now); ``skip`` and ``limit``
    page through them (limit at most MAX_HISTORY)."""
    path = target.folder if path is None else path.strip("/")
    if path:
        check_path(path)
    limit = max(1, min(limit, MAX_HISTORY))
    with _at(target, ref) as (ws, commit):
        if commit is None:
            return []
        args = ["log", "-z", f"--format={_LOG_FORMAT}", f"-n{limit}", f"--skip={max(skip, 0)}"]
        args.append(commit)
        if path:
            args += ["--", path]
        out = ws.git(*args)
    return [_commit_info(record) for record in out.stdout.decode().split("\0") if record]


def commit_info(target: GitTarget, sha: str) -> CommitInfo:
    """One commit by id (fetched if this host has not seen it yet)."""
    with _at(target, sha) as (ws, commit):
        out = ws.git("log", "-z", "-n1", f"--format={_LOG_FORMAT}", commit)
    return _commit_info(out.stdout.decode().rstrip("\0"))


def _commit_info(record: str) -> CommitInfo:
    sha, parents, an, ae, at, cn, ce, ct, trailer_text, message = record.split("\x1f", 9)
    trailers: dict[str, list[str]] = {}
    for line in trailer_text.split("\x1e"):
        key, sep, value = line.partition(": ")
        if sep:
            trailers.setdefault(key.strip(), []).append(value.strip())
    return CommitInfo(
        sha,
        tuple(parents.split()),
        an,
        ae,
        store.epoch(at),
        cn,
        ce,
        store.epoch(ct),
        message.strip("\n"),
        trailers,
    )


# --- the write ---------------------------------------------------------------------------------


def commit_changes(
    target: GitTarget,
    *,
    changes: Mapping[str, bytes | str | None],
    message: str,
    operation: str,
    author: Identity | None = None,
    job_id: uuid.UUID | None = None,
    links: Mapping[str, object] | None = None,
    expected: Mapping[str, str | None] | None = None,
    based_on: str | None = None,
    then: FollowUp | None = None,
) -> CommitResult:
    """Commit a change set as one commit and push it (see the package docstring)."""
    changes, expected = _checked(changes, expected)
    if based_on is not None and not _COMMIT_ID.match(based_on):
        raise InvalidInput(f"{based_on!r} is not a commit id.", code="invalid_git_ref")
    author = author or PLATFORM
    text = compose_message(
        message, _trailers(target, operation, author=author, job_id=job_id, links=links)
    )
    follow = _FollowUpPlan(target, then) if then else None
    with _open(target, locked=True) as ws:
        desired = _blob_ids(ws, changes)
        blobs = _written(desired)
        if follow:
            follow.identify(ws)
        first_head = store.refresh(ws)
        implicit = [p for p in changes if p not in expected]
        baseline = store.resolve_commit(ws, based_on) if based_on else first_head
        others = follow.paths if follow else set()
        # Without based_on the baseline is the head the first attempt checks: one listing
        # serves both.
        current = store.object_ids(ws, first_head, {*changes, *expected, *others})
        same = baseline == first_head
        at_baseline = current if same else store.object_ids(ws, baseline, implicit)
        # A path the caller gave no expectation for must still be as it was when this
        # operation began (or at based_on): another writer's change there is a conflict.
        expectations = {**{p: at_baseline[p] for p in implicit}, **expected}
        current_head = first_head
        for attempt in range(1, MAX_PUSH_ATTEMPTS + 1):
            if attempt > 1:
                time.sleep(RETRY_DELAY_S * attempt)
                current_head = store.refresh(ws)
                current = store.object_ids(ws, current_head, {*changes, *expectations, *others})
            conflicts = _conflicts(expectations, desired, current)
            if conflicts:
                raise GitConflict(conflicts)
            effective = _effective(changes, desired, current)
            if not effective:
                return CommitResult(current_head, False, current_head, (), attempt, blobs)
            draft = follow.draft({**current, **desired}) if follow else None
            new, staged = store.build_commit(
                ws,
                parent=current_head,
                changes=effective,
                message=text,
                author=author,
                committer=PLATFORM,
                then=draft,
            )
            if store.publish(ws, new, current_head):
                store.tidy(ws)
                return CommitResult(
                    new,
                    True,
                    current_head,
                    tuple(sorted(effective)),
                    attempt,
                    blobs,
                    follow.staged(staged, new) if follow and staged else None,
                )
            log.info(
                "git push to %s lost a race (attempt %d); retrying", target.repository, attempt
            )
    raise GitBusy(
        f"The branch kept moving under {MAX_PUSH_ATTEMPTS} push attempts; try again shortly."
    )


def _checked(
    changes: Mapping[str, bytes | str | None], expected: Mapping[str, str | None] | None
) -> tuple[dict[str, bytes | None], dict[str, str | None]]:
    """A change set and its expectations with paths, contents and blob ids checked."""
    return (
        {check_path(p): _bytes(c) for p, c in changes.items()},
        {check_path(p): _blob(v) for p, v in (expected or {}).items()},
    )


def _blob_ids(ws: Workspace, changes: Mapping[str, bytes | None]) -> dict[str, str | None]:
    """The blob id each change leaves at its path (None: deleted)."""
    return {p: None if c is None else store.blob_id(ws, c) for p, c in changes.items()}


def _written(ids: Mapping[str, str | None]) -> dict[str, str]:
    return {p: sha for p, sha in ids.items() if sha is not None}


def _conflicts(
    expectations: Mapping[str, str | None],
    desired: Mapping[str, str | None],
    current: Mapping[str, str | None],
) -> list[FileConflict]:
    """Paths not as expected (path -> blob id, None: no file) that do not already hold what
    is to be written there."""
    return [
        FileConflict(path, want, current[path])
        for path, want in expectations.items()
        if current[path] != want and desired.get(path, want) != current[path]
    ]


def _effective(
    changes: Mapping[str, bytes | None],
    desired: Mapping[str, str | None],
    current: Mapping[str, str | None],
) -> dict[str, bytes | None]:
    """The changes that change something."""
    return {p: c for p, c in changes.items() if current[p] != desired[p]}


class _FollowUpPlan:
    """A FollowUp checked against the tree it will go on (the same rules as the commit's own
    change set; a conflict leaves it out instead of failing the commit)."""

    def __init__(self, target: GitTarget, then: FollowUp) -> None:
        self.changes, self.expected = _checked(then.changes, then.expected)
        self.paths = {*self.changes, *self.expected}
        self.author = then.author or PLATFORM
        self.message = compose_message(
            then.message,
            _trailers(
                target, then.operation, author=self.author, job_id=then.job_id, links=then.links
            ),
        )
        self.desired: dict[str, str | None] = {}
        self.effective: dict[str, bytes | None] = {}

    def identify(self, ws: Workspace) -> None:
        self.desired = _blob_ids(ws, self.changes)

    def draft(self, below: Mapping[str, str | None]) -> store.Draft | None:
        """The commit to build on a tree holding ``below`` (path -> blob id); None when it
        would conflict or change nothing."""
        if _conflicts(self.expected, self.desired, below):
            return None
        self.effective = _effective(self.changes, self.desired, below)
        return store.Draft(self.effective, self.message, self.author) if self.effective else None

    def staged(self, sha: str, parent: str) -> StagedCommit:
        return StagedCommit(sha, parent, tuple(sorted(self.effective)), _written(self.desired))


def publish_staged(target: GitTarget, staged: StagedCommit) -> CommitResult | None:
    """Move the branch from the staged commit's parent to it (a push to a remote); None when
    the branch moved since (commit the change the ordinary way: it is checked again)."""
    with _open(target, locked=True) as ws:
        if not store.publish(ws, staged.sha, staged.parent):
            return None
        store.tidy(ws)
    return CommitResult(
        staged.sha, True, staged.parent, staged.changed_paths, 1, dict(staged.blobs)
    )


def _bytes(content: bytes | str | None) -> bytes | None:
    if content is None or isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    raise InvalidInput("File contents must be bytes, text or None.", code="invalid_git_change")


def _blob(value: str | None) -> str | None:
    if value is not None and not _BLOB_ID.match(value):
        raise InvalidInput(f"{value!r} is not a blob id.", code="invalid_git_expectation")
    return value


def _trailers(
    target: GitTarget,
    operation: str,
    *,
    author: Identity,
    job_id: uuid.UUID | None,
    links: Mapping[str, object] | None,
) -> list[tuple[str, str]]:
    trailers = [("Operation", operation)]
    if job_id:
        trailers.append(("Job", str(job_id)))
    if target.environment_id:
        trailers.append(("Environment", str(target.environment_id)))
    if author.user_id:
        trailers.append(("User", str(author.user_id)))
    for name, value in (links or {}).items():
        if not _LINK_NAME.match(name):
            raise InvalidInput(f"{name!r} is not a valid link name.", code="invalid_git_link")
        trailers.append((name.title(), str(value)))
    return [(f"{TRAILER_PREFIX}{key}", value) for key, value in trailers]


def compose_message(message: str, trailers: list[tuple[str, str]]) -> str:
    """The commit message: the caller's words, a blank line, then one trailer per line."""
    body = message.replace("\0", "").strip() or "n8n-ops change"
    lines = "\n".join(f"{key}: {' '.join(str(value).split())}" for key, value in trailers)
    return f"{body}\n\n{lines}\n"


def author_for_user(user_id: uuid.UUID) -> Identity:
    """A platform user as a commit author (name, else the email's local part)."""
    user = db.get(User, user_id)
    if user is None:
        return PLATFORM
    return Identity(user.name or user.email.split("@", 1)[0], user.email, user.id)
