"""Which repository an environment's Git lives in, and how paths, branches and folders look.

``target_for(env)`` turns an environment row into a GitTarget: its remote (or the tenant's
embedded repository), branch, folder and decrypted credentials. Every operation of
``services.git`` takes a GitTarget.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from jobs.core import tenant_connection
from models.db import db
from models.environments import Environment
from models.jobs import BackgroundJob
from services import config
from services.errors import InvalidInput
from services.git import command, store
from services.git.command import GitCommandError
from services.git.errors import GitAttachPending, GitRemoteRequired
from services.git.transport import Credentials, RemoteUrl, parse_remote_url
from services.secrets import keyring

#: Branch of a remote when none is configured.
DEFAULT_BRANCH = "main"
#: The embedded repository has one branch; environments differ by folder.
EMBEDDED_BRANCH = "main"
#: Longest repository path accepted, in characters.
MAX_PATH_CHARS = 1024

_FORBIDDEN_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True)
class GitTarget:
    """Where one environment's files live in Git, and how to reach them.

    ``remote`` None means the tenant's embedded repository. Paths given to operations are
    relative to the repository root; ``folder`` is this environment's own folder in it.
    Credentials never show in repr.
    """

    tenant_id: uuid.UUID
    environment_id: uuid.UUID | None
    remote: RemoteUrl | None
    branch: str
    folder: str
    credentials: Credentials = field(default_factory=Credentials, repr=False)

    @property
    def is_embedded(self) -> bool:
        return self.remote is None

    @property
    def repository(self) -> str:
        """The repository's display name: its URL, or "embedded"."""
        return "embedded" if self.remote is None else self.remote.url

    @property
    def lock_name(self) -> str:
        """One lock per tenant and repository (two tenants on one URL have two caches)."""
        return f"{self.tenant_id}:{self.repository}"

    @property
    def cache_name(self) -> str:
        return hashlib.sha256(self.repository.encode()).hexdigest()[:24]


def target_for(env: Environment, *, attaching: bool = False) -> GitTarget:
    """The GitTarget of an environment (credentials decrypted here, and only here).

    Raises GitAttachPending while the embedded history moves to the environment's new
    remote (unless ``attaching``: the attach job itself), GitRemoteRequired when it has no
    remote and this deployment keeps no embedded repository.
    """
    settings = config.current()
    if env.git_attach_job_id is not None and not attaching:
        raise _attach_pending(env)
    if env.github_repo_url:
        remote = parse_remote_url(env.github_repo_url, allow_http=settings.allow_private_networks)
        credentials = Credentials(
            token=_decrypt(env.github_token_encrypted),
            username=env.git_username,
            ssh_key=_decrypt(env.git_ssh_key_encrypted),
            known_hosts=env.git_known_hosts,
            provider=env.git_provider,
        )
        branch = env.github_branch or DEFAULT_BRANCH
    else:
        if not settings.embedded_git:
            raise remote_required()
        remote, credentials, branch = None, Credentials(), EMBEDDED_BRANCH
    return GitTarget(
        env.tenant_id,
        env.id,
        remote,
        branch,
        env.git_folder or _persist_default_folder(env),
        credentials,
    )


def remote_required() -> GitRemoteRequired:
    return GitRemoteRequired(
        "This deployment runs on several hosts or an ephemeral disk (EMBEDDED_GIT is off), so "
        "Git needs a remote repository: configure one with PUT /api/v1/environments/{id}/git.",
    )


def _attach_pending(env: Environment) -> GitAttachPending:
    job = db.get(BackgroundJob, env.git_attach_job_id)
    status = job.status if job else "unknown"
    detail = f": {job.error_message}" if job is not None and job.error_message else ""
    return GitAttachPending(
        f"The embedded Git history is moving to this environment's new remote (job "
        f"{env.git_attach_job_id}, {status}{detail}). Git is available once it completes; if "
        "it failed, fix the remote and rerun the job, or configure Git again.",
        job_id=str(env.git_attach_job_id),
        job_status=status,
    )


def _decrypt(ciphertext: str | None) -> str | None:
    return keyring().decrypt(ciphertext) if ciphertext else None


# --- folders, branches and paths ---------------------------------------------------------


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "environment"


def default_folder(env: Environment) -> str:
    """A readable folder for an environment: its name as a slug, made unique in the tenant
    with a piece of its id when another environment already has that folder."""
    candidate = slug(env.name)
    taken = db.scalar(
        select(Environment.id).where(
            Environment.tenant_id == env.tenant_id,
            Environment.git_folder == candidate,
            Environment.id != env.id,
        )
    )
    return candidate if taken is None else f"{candidate}-{env.id.hex[:8]}"


def _persist_default_folder(env: Environment) -> str:
    """Store the default folder at first use, so renaming the environment never moves its
    files. Its own short transaction; a row the caller has locked is left for next time
    (SKIP LOCKED) rather than waited for (that would deadlock the caller)."""
    folder = default_folder(env)
    locked = (
        select(Environment.id)
        .where(Environment.id == env.id, Environment.git_folder.is_(None))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    with tenant_connection(env.tenant_id) as conn:
        conn.execute(update(Environment).where(Environment.id == locked).values(git_folder=folder))
        stored = conn.scalar(select(Environment.git_folder).where(Environment.id == env.id))
    set_committed_value(env, "git_folder", stored)
    return stored or folder


def check_path(path: str, *, what: str = "path") -> str:
    """A repository path: relative, '/'-separated, no empty, '.', '..' or '.git' parts, no
    control characters or backslashes. Returned unchanged."""
    parts = path.split("/")
    if (
        not path
        or len(path) > MAX_PATH_CHARS
        or _FORBIDDEN_PATH_CHARS.search(path)
        or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts)
    ):
        raise InvalidInput(
            f"{path!r} is not a valid repository {what}: use a relative path like "
            "'workflows/dev/x.json' (no '..', '.git', empty parts or backslashes).",
            code=f"invalid_git_{what}",
        )
    return path


def check_folder(folder: str) -> str:
    """A folder as configured: leading and trailing slashes dropped, then a valid path."""
    return check_path(folder.strip().strip("/"), what="folder")


def check_branch(branch: str) -> str:
    """A branch name git accepts (git check-ref-format decides)."""
    branch = branch.strip()
    valid = not branch.startswith("-")
    if valid:
        try:
            command.run(["check-ref-format", f"refs/heads/{branch}"], env=store.local_env())
        except GitCommandError:
            valid = False
    if not valid:
        raise InvalidInput(f"{branch!r} is not a valid branch name.", code="invalid_git_branch")
    return branch
