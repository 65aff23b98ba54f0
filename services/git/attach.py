"""The git_attach job: push the embedded repository's whole history to the remote its
environments were given, then let them use it.

Safe to repeat: a remote branch that already holds the embedded head (a previous attempt
pushed it) counts as done. A remote branch with history of its own is refused, never
overwritten: attach to an empty repository or branch.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update

from models.db import db
from models.environments import Environment
from services import config
from services.git import command, store
from services.git.command import GitCommandError, diagnose
from services.git.errors import GitRemoteError
from services.git.lock import repository_lock
from services.git.target import EMBEDDED_BRANCH, GitTarget, target_for
from services.git.transport import remote_session
from services.progress import Progress

#: Local ref where the remote branch is fetched to compare histories.
_REMOTE_CHECK_REF = "refs/n8nops/attach-remote"


def attach(environment_ids: list[str], *, progress: Progress) -> dict[str, Any]:
    """Push the embedded history to the environments' remote and clear their pending flag."""
    ids = [uuid.UUID(i) for i in environment_ids]
    waiting = db.scalars(
        select(Environment).where(
            Environment.id.in_(ids), Environment.git_attach_job_id.is_not(None)
        )
    ).all()
    if not waiting:
        return {"environments": 0, "pushed": None}
    # All of them were given the same remote by start_attach.
    target = target_for(waiting[0], attaching=True)
    progress(current=0, total=1, message=f"pushing the embedded history to {target.repository}")
    pushed = _push_history(target)
    db.execute(
        update(Environment)
        .where(Environment.id.in_([e.id for e in waiting]))
        .values(git_attach_job_id=None)
    )
    db.commit()
    progress(current=1, total=1, message="attached")
    return {
        "environments": len(waiting),
        "repository": target.repository,
        "branch": target.branch,
        "pushed": pushed,
    }


def _push_history(target: GitTarget) -> str | None:
    """Push embedded main to the target's branch; the embedded head, or None if empty."""
    assert target.remote is not None
    git_dir = store.root() / "embedded" / f"{target.tenant_id}.git"
    embedded = GitTarget(target.tenant_id, None, None, EMBEDDED_BRANCH, target.folder)
    allow_private = config.current().allow_private_networks
    with (
        repository_lock(embedded.lock_name),
        repository_lock(target.lock_name),
        remote_session(target.remote, target.credentials, allow_private=allow_private) as remote,
    ):
        if not (git_dir / "HEAD").exists():
            return None
        ws = store.Workspace(git_dir, EMBEDDED_BRANCH, store.local_env())
        head = store.local_head(ws)
        if head is None:
            return None

        def run(*args: str, check: bool = True):
            try:
                return command.run(
                    args,
                    env=remote.env,
                    git_dir=git_dir,
                    timeout=command.REMOTE_TIMEOUT_S,
                    scrub=remote.scrub,
                    check=check,
                )
            except GitCommandError as error:
                raise diagnose(error, writing=True) from None

        out = run(
            "push", "--porcelain", remote.url, f"{head}:refs/heads/{target.branch}", check=False
        )
        if out.returncode == 0:
            return head
        rejected = "[rejected]" in out.stdout.decode(errors="replace")
        if not rejected:
            raise diagnose(GitCommandError(["push"], out.returncode, out.stderr), writing=True)
        # Already there (an earlier attempt pushed it, maybe more commits followed)?
        refspec = f"+refs/heads/{target.branch}:{_REMOTE_CHECK_REF}"
        run("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote.url, refspec)
        contained = ws.git("merge-base", "--is-ancestor", head, _REMOTE_CHECK_REF, check=False)
        ws.git("update-ref", "-d", _REMOTE_CHECK_REF)
        if contained.returncode == 0:
            return head
        raise GitRemoteError(
            "remote_not_empty",
            f"branch {target.branch!r}: attach to an empty repository or a new branch",
        )
