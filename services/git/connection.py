"""Testing an environment's Git remote now, in bounded time, and saying exactly what is wrong.

Two round trips, no clone: ``ls-remote`` (reachable? TLS? credentials? repository? branch?)
then a dry-run push of a throwaway commit (may these credentials write?). A dry run stops
before sending anything, but only after the server accepted the credentials for pushing.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from services import config
from services.git import store
from services.git.command import GitCommandError, diagnose
from services.git.errors import GitRemoteError
from services.git.repository import PLATFORM
from services.git.store import Workspace
from services.git.target import GitTarget
from services.git.transport import remote_session

#: Seconds the whole test may take (its two remote commands share them): the web process
#: answers well inside a gunicorn worker's 30 s.
CHECK_TIMEOUT_S = 15.0
#: Seconds the write check gets at least, even when the listing was slow.
MIN_STEP_S = 2.0


@dataclass(frozen=True)
class GitCheck:
    """A connection test's outcome. ``status``: ok, empty_repository, embedded, or a reason of
    ``errors.REASONS`` (auth_failed, not_found, branch_missing, no_write_access, ...)."""

    ok: bool
    status: str
    message: str
    repository: str
    branch: str
    head: str | None = None
    default_branch: str | None = None
    branches: tuple[str, ...] = ()
    writable: bool | None = None
    latency_ms: int | None = None


def check(target: GitTarget) -> GitCheck:
    """Test ``target`` now, within about CHECK_TIMEOUT_S, never raising for a remote problem
    (it is the answer)."""
    if target.remote is None:
        return _check_embedded(target)
    started = time.monotonic()
    found: dict = {}
    try:
        _probe(target, found)
    except GitRemoteError as error:
        return GitCheck(
            False, error.reason, error.message, target.repository, target.branch, **found
        )
    latency = int((time.monotonic() - started) * 1000)
    if found["head"] is None:
        message = (
            f"Connected; the repository is empty. The first commit creates branch "
            f"{target.branch!r}; write access confirmed."
        )
        return GitCheck(
            True, "empty_repository", message, target.repository, target.branch,
            latency_ms=latency, **found,
        )  # fmt: skip
    message = (
        f"Connected: branch {target.branch!r} is at {found['head'][:12]}; write access confirmed."
    )
    return GitCheck(
        True, "ok", message, target.repository, target.branch, latency_ms=latency, **found
    )


def _probe(target: GitTarget, found: dict) -> None:
    allow_private = config.current().allow_private_networks
    with (
        remote_session(target.remote, target.credentials, allow_private=allow_private) as remote,
        tempfile.TemporaryDirectory(prefix="n8nops-git-check-") as scratch,
    ):
        ws = Workspace(
            Path(scratch) / "check.git", target.branch, store.local_env(), remote, CHECK_TIMEOUT_S
        )
        deadline = time.monotonic() + CHECK_TIMEOUT_S
        listing = ws.remote_git("ls-remote", "--symref", remote.url).stdout.decode()
        heads, default = _parse_listing(listing)
        found.update(branches=tuple(sorted(heads)), default_branch=default)
        found["head"] = heads.get(target.branch)
        if found["head"] is None and heads:
            shown = ", ".join(sorted(heads)[:10])
            raise GitRemoteError("branch_missing", f"{target.branch!r}; it has: {shown}")
        store.ensure_repository(ws.git_dir, ws.env)
        ws.timeout = max(MIN_STEP_S, deadline - time.monotonic())
        found["writable"] = _can_push(ws)


def _parse_listing(listing: str) -> tuple[dict[str, str], str | None]:
    heads, default = {}, None
    for line in listing.splitlines():
        left, _, ref = line.partition("\t")
        if left.startswith("ref: ") and ref == "HEAD":
            default = left.removeprefix("ref: refs/heads/")
        elif ref.startswith("refs/heads/"):
            heads[ref.removeprefix("refs/heads/")] = left
    return heads, default


def _can_push(ws: Workspace) -> bool:
    """Dry-run push of an empty commit: the server checks the credentials for writing first.
    A refusal for history (not a fast-forward) still proves write access."""
    tree = ws.git("mktree", stdin=b"").stdout.decode().strip()
    identity = (f"user.name={PLATFORM.name}", f"user.email={PLATFORM.email}")
    commit = ws.git(
        "-c", identity[0], "-c", identity[1], "commit-tree", tree, "-m", "n8n-ops write check"
    ).stdout.decode().strip()  # fmt: skip
    assert ws.remote is not None
    out = ws.remote_git(
        "push", "--dry-run", "--porcelain", ws.remote.url, f"{commit}:refs/heads/{ws.branch}",
        writing=True, check=False,
    )  # fmt: skip
    if out.returncode == 0 or "[rejected]" in out.stdout.decode(errors="replace"):
        return True
    raise diagnose(GitCommandError(["push"], out.returncode, out.stderr), writing=True)


def _check_embedded(target: GitTarget) -> GitCheck:
    ws = Workspace(
        store.root() / "embedded" / f"{target.tenant_id}.git", target.branch, store.local_env()
    )
    head = store.local_head(ws) if (ws.git_dir / "HEAD").exists() else None
    where = f"branch {target.branch!r} at {head[:12]}" if head else "no commit yet"
    return GitCheck(
        True,
        "embedded",
        f"The embedded repository on this host serves this environment ({where}, folder "
        f"{target.folder!r}). Attach a remote before running workers on several hosts.",
        "embedded",
        target.branch,
        head=head,
        writable=True,
    )
