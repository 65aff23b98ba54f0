"""Git, for real: the one way the platform reads and commits the files it keeps in Git.

Everything goes through git itself (subprocess, git >= 2.37). Start from an environment:

    from services import git

    target = git.target_for(env)                 # GitTarget: repository, branch, folder
    listing = git.list_files(target)             # the environment's folder at the head
    result = git.commit_changes(
        target,
        changes={f"{target.folder}/wf-1.json": data, f"{target.folder}/old.json": None},
        expected={f"{target.folder}/wf-1.json": listing_blob_sha},  # optional
        message="Back up 2 workflows",
        operation="backup",
        author=git.author_for_user(user_id),
        job_id=ctx.job_id,
        links={"snapshot": snapshot_id},
    )
    result.sha, result.created, result.changed_paths

Where files live
    ``target_for(env)`` -> GitTarget. An environment with ``github_repo_url`` uses that remote
    (https token or ssh deploy key), its ``github_branch`` (default "main") and its
    ``git_folder``. Without a URL it uses the tenant's embedded bare repository under
    DATA_DIR/git/embedded (branch "main", one folder per environment), unless EMBEDDED_GIT is
    off (several hosts, ephemeral disk): then GitRemoteRequired (409). While the embedded
    history is being pushed to a new remote: GitAttachPending (409, retryable).
    ``target.folder`` is the environment's folder: its configured git_folder, else a slug of
    its name stored at first use (renaming the environment never moves its files). Paths
    passed to every function are from the repository ROOT ("dev/x.json"), so layouts may
    span folders; they must be relative, with no "..", ".git", empty parts or backslashes.

Reads (any process; workers by design). ``ref`` is a commit id (full or abbreviated hex);
None means the branch head, fetched from the remote now (serialised with writers). A commit
this host has not seen is fetched once, else GitRefNotFound (404).
    head(target) -> str | None
        The head commit; None while the branch has no commit (empty repository).
    list_files(target, folder=None, *, ref=None, contents=True) -> Listing(commit, files)
        Every regular file under ``folder`` (default target.folder; "" = whole repository)
        as GitFile(path, blob_sha, content bytes | None when contents=False), sorted by
        path. Two git processes (ls-tree, cat-file --batch) whatever the count. To sync,
        list with contents=False, compare blob ids with what you stored, then read_files
        the changed ones: that costs what plain git does (bench/RESULTS.md).
    read_files(target, paths, *, ref=None) -> {path: GitFile | None}
    read_file(target, path, *, ref=None) -> GitFile | None
        Content at any commit: pass ref=<sha>.
    history(target, path=None, *, ref=None, limit=50, skip=0) -> [CommitInfo]
        Commits touching a file or folder (default target.folder; "" = any), newest first,
        paged by skip/limit (limit <= 500). CommitInfo: sha, parents, author_name/email,
        authored_at, committer_name/email, committed_at (UTC datetimes), message (full),
        subject, trailers {key: [values]} parsed by git, and .operation, .job_id, .user_id,
        .links ({"promotion": "...", ...}).
    commit_info(target, sha) -> CommitInfo

The write: commit_changes(target, *, changes, message, operation, author=None, job_id=None,
links=None, expected=None, based_on=None) -> CommitResult
    One commit for the whole change set (never one per file), built with one git
    fast-import, pushed (remote) or compare-and-swapped (embedded) under the repository's
    lock. ``changes``: {path: bytes | str | None}; None deletes.
    Author: ``author`` (an Identity; author_for_user(user_id) for a platform user, which
    also adds a ``N8n-Ops-User`` trailer), default the platform. Committer: the platform.
    Trailers: N8n-Ops-Operation (``operation``), N8n-Ops-Job, N8n-Ops-Environment, N8n-Ops-User,
    and one N8n-Ops-<Name> per ``links`` entry ({"promotion": id, "incident": id, ...}).
    Concurrency: ``expected`` {path: blob_sha | None (must not exist)} states what the caller
    based the change on; ``based_on`` (a commit id) does the same for every changed path
    without an expectation; any other changed path must be as it was when the operation
    began. A path changed by someone else raises GitConflict (409) with ``conflicts`` =
    [FileConflict(path, expected, actual)] and commits nothing; a path that already holds
    exactly the new content is not a conflict (so a retried job is idempotent). A push that
    loses a race (another writer moved the branch) fetches, re-checks, rebuilds the commit on
    the new head and retries, up to MAX_PUSH_ATTEMPTS, then GitBusy (503, retryable).
    CommitResult(sha, created, parent, changed_paths, attempts, blobs): ``sha`` is the head
    after; ``created`` False when every change was already in place (no empty commits);
    ``blobs`` the blob id of each written path (no listing needed afterwards).
    ``then`` (a FollowUp: changes, message, operation, author, job_id, links, expected) is a
    second change set built on top of the commit in the same fast-import and NOT published:
    ``result.staged`` (StagedCommit) when it applies there (None when it would conflict or
    change nothing, or when the commit itself changed nothing). publish_staged(target,
    staged) later moves the branch to it, only from the commit it was built on (a push or a
    compare-and-swap): a CommitResult, or None when the branch moved since (then commit the
    change set the ordinary way). A deployment builds its approved copies with its snapshot
    this way and publishes them once the deployment succeeded.
    A missing branch is created by the first commit in an empty repository; in a repository
    with other branches it is GitRemoteError("branch_missing").

Failures (services.git.errors; all DomainErrors, messages safe to show and store)
    GitRemoteError(reason): auth_failed, not_found, branch_missing, no_write_access,
    push_rejected, remote_not_empty, unreachable, tls_error, timeout, moved,
    host_key_unknown, host_key_mismatch, refused_address, error. 503; ``retryable`` True
    only for unreachable, timeout and error (the job core reads it).
    GitConflict 409, GitBusy 503, GitRemoteRequired 409, GitAttachPending 409,
    GitRefNotFound 404; bad paths or ids: InvalidInput 400.

Secrets: tokens and keys are decrypted only in target_for, reach git only through its
environment (an http.extraHeader in GIT_CONFIG_* variables; a 0600 key file for ssh), never
its arguments, and whatever git prints is scrubbed before it reaches an error or a log.
``check(target)`` tests a remote (see connection.py); ``services.git.settings`` is what the API
uses to configure, test and attach.
"""

from __future__ import annotations

import logging

from services.config import Settings
from services.git.connection import GitCheck, check
from services.git.errors import (
    FileConflict,
    GitAttachPending,
    GitBusy,
    GitConflict,
    GitRefNotFound,
    GitRemoteError,
    GitRemoteRequired,
)
from services.git.repository import (
    MAX_PUSH_ATTEMPTS,
    PLATFORM,
    CommitInfo,
    CommitResult,
    FollowUp,
    GitFile,
    Listing,
    StagedCommit,
    author_for_user,
    commit_changes,
    commit_info,
    head,
    history,
    list_files,
    publish_staged,
    read_file,
    read_files,
)
from services.git.store import Identity
from services.git.target import GitTarget, target_for

__all__ = [
    "MAX_PUSH_ATTEMPTS",
    "PLATFORM",
    "CommitInfo",
    "CommitResult",
    "FileConflict",
    "FollowUp",
    "GitAttachPending",
    "GitBusy",
    "GitCheck",
    "GitConflict",
    "GitFile",
    "GitRefNotFound",
    "GitRemoteError",
    "GitRemoteRequired",
    "GitTarget",
    "Identity",
    "Listing",
    "StagedCommit",
    "announce_storage",
    "author_for_user",
    "check",
    "commit_changes",
    "commit_info",
    "head",
    "history",
    "list_files",
    "publish_staged",
    "read_file",
    "read_files",
    "target_for",
]

log = logging.getLogger(__name__)


def storage_notice(settings: Settings) -> str:
    """The one line each process logs at start about where Git lives."""
    if settings.embedded_git:
        return (
            f"Git: environments without a remote use the embedded repository under "
            f"{settings.data_dir}/git on this host; set EMBEDDED_GIT=off and configure "
            "remotes before running workers on several hosts or an ephemeral disk."
        )
    return (
        "Git: EMBEDDED_GIT is off (several hosts or an ephemeral disk), so every environment "
        "needs a remote repository (PUT /api/v1/environments/{id}/git); Git operations of "
        "environments without one fail with git_remote_required."
    )


def announce_storage(settings: Settings) -> None:
    """Log storage_notice: a warning where a remote is required, else information."""
    log.log(logging.INFO if settings.embedded_git else logging.WARNING, storage_notice(settings))
