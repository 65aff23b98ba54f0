"""An environment's Git configuration as the API shows and changes it: repository, branch,
folder, provider conventions and write-only credentials; its connection test; attaching the
embedded repository's history to a remote.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from jobs import core as jobs
from models.db import db
from models.environments import GIT_PROVIDERS, Environment
from services import audit, config
from services.environments import get as get_environment
from services.errors import Conflict, InvalidInput
from services.git import ssh_keys
from services.git.connection import GitCheck, check
from services.git.errors import GitAttachPending, GitRemoteRequired
from services.git.target import (
    DEFAULT_BRANCH,
    EMBEDDED_BRANCH,
    check_branch,
    check_folder,
    default_folder,
    remote_required,
    target_for,
)
from services.git.transport import (
    TOKEN_USERNAMES,
    RemoteUrl,
    infer_provider,
    parse_remote_url,
)
from services.secrets import keyring
from services.url_safety import resolve_checked

#: A secret field left out of a request: keep what is stored.
KEEP = object()


@dataclass(frozen=True)
class GitSettings:
    """What GET /environments/{id}/git shows: public fields, and flags for the secrets."""

    environment_id: uuid.UUID
    repository_url: str | None
    uses_embedded_repository: bool
    embedded_available: bool
    provider: str | None
    username: str | None
    #: What is sent as the username with a token when ``username`` is not set (None for Gitea,
    #: which receives the token as the username).
    default_username: str | None
    branch: str
    folder: str
    auth_method: str  # token, ssh_key or none
    has_token: bool
    has_ssh_key: bool
    ssh_public_key: str | None
    ssh_key_fingerprint: str | None
    known_hosts: str | None
    attach_job_id: uuid.UUID | None


def get_settings(env_id: uuid.UUID) -> GitSettings:
    return _shown(get_environment(env_id))


def _shown(env: Environment) -> GitSettings:
    remote = bool(env.github_repo_url)
    public_key = _public_key(env)
    provider = env.git_provider or (_inferred_provider(env) if remote else None)
    return GitSettings(
        environment_id=env.id,
        repository_url=env.github_repo_url,
        uses_embedded_repository=not remote,
        embedded_available=config.current().embedded_git,
        provider=provider,
        username=env.git_username,
        default_username=TOKEN_USERNAMES.get(provider) if provider else None,
        branch=(env.github_branch or DEFAULT_BRANCH) if remote else EMBEDDED_BRANCH,
        folder=env.git_folder or default_folder(env),
        auth_method=_auth_method(env),
        has_token=env.github_token_encrypted is not None,
        has_ssh_key=env.git_ssh_key_encrypted is not None,
        ssh_public_key=public_key,
        ssh_key_fingerprint=ssh_keys.fingerprint(public_key) if public_key else None,
        known_hosts=env.git_known_hosts,
        attach_job_id=env.git_attach_job_id,
    )


def _inferred_provider(env: Environment) -> str:
    remote = _parsed(env)
    return infer_provider(remote.host) if remote else "generic"


def _parsed(env: Environment) -> RemoteUrl | None:
    """The stored remote; None without one, or when another path stored an invalid URL
    (then it is shown as it is, and replacing it keeps no secret)."""
    if not env.github_repo_url:
        return None
    try:
        return parse_remote_url(env.github_repo_url, allow_http=True)
    except InvalidInput:
        return None


def _auth_method(env: Environment) -> str:
    if env.git_ssh_key_encrypted:
        return "ssh_key"
    return "token" if env.github_token_encrypted else "none"


def _public_key(env: Environment) -> str | None:
    if not env.git_ssh_key_encrypted:
        return None
    return ssh_keys.public_key_of(keyring().decrypt(env.git_ssh_key_encrypted))


def _audited(env: Environment) -> dict[str, Any]:
    shown = _shown(env)
    return {
        "repository_url": shown.repository_url,
        "provider": env.git_provider,
        "username": shown.username,
        "branch": shown.branch,
        "folder": shown.folder,
        "token_set": shown.has_token,
        "ssh_key_set": shown.has_ssh_key,
        "ssh_key_fingerprint": shown.ssh_key_fingerprint,
        "known_hosts_set": shown.known_hosts is not None,
    }


# --- changing it ------------------------------------------------------------------------------


def update_settings(env_id: uuid.UUID, **fields: Any) -> GitSettings:
    """Replace the environment's Git configuration (PUT semantics; secrets: see _apply)."""
    env = get_environment(env_id)
    _reconfigure(env, "environment.git.update", fields)
    db.commit()
    return _shown(env)


def _reconfigure(
    env: Environment, action: str, fields: dict[str, Any], *, attach_job_id=None
) -> None:
    """Apply ``fields`` and audit the change (public values only; secrets as flags)."""
    before = _audited(env)
    meta: dict[str, Any] = _apply(env, **fields)
    if attach_job_id is not None:
        env.git_attach_job_id = attach_job_id
        meta["job_id"] = str(attach_job_id)
    audit.record(
        action,
        resource_type="environment",
        resource_id=env.id,
        old=before,
        new=_audited(env),
        meta=meta,
    )


def _apply(
    env: Environment,
    *,
    repository_url: str | None,
    branch: str | None = None,
    folder: str | None = None,
    provider: str | None = None,
    username: str | None = None,
    token: Any = KEEP,
    ssh_private_key: Any = KEEP,
    generate_ssh_key: bool = False,
    known_hosts: str | None = None,
) -> dict[str, bool]:
    """Validate, then set every Git column. A secret left out is kept, None clears it, a value
    replaces it; kept secrets are dropped when the remote's host (or protocol) changes, so a
    token is never sent to a host it was not given for. Returns which secrets changed."""
    settings = config.current()
    old = _parsed(env)
    remote = _checked_remote(repository_url, allow_private=settings.allow_private_networks)
    if remote is None and not settings.embedded_git:
        raise remote_required()
    if generate_ssh_key:
        if ssh_private_key not in (KEEP, None):
            raise InvalidInput(
                "Give an SSH key or ask for one to be generated, not both.",
                code="conflicting_git_credentials",
            )
        ssh_private_key = ssh_keys.generate_private_key()
    same_place = (
        old is not None
        and remote is not None
        and (old.scheme, old.host, old.port) == (remote.scheme, remote.host, remote.port)
    )
    if not same_place:
        token = None if token is KEEP else token
        ssh_private_key = None if ssh_private_key is KEEP else ssh_private_key
    _check_credentials(remote, token, ssh_private_key, env, known_hosts)
    if provider is not None and provider not in GIT_PROVIDERS:
        raise InvalidInput(f"Unknown provider {provider!r}.", code="invalid_git_provider")
    env.github_repo_url = remote.url if remote else None
    env.github_branch = check_branch(branch or DEFAULT_BRANCH) if remote else None
    env.git_folder = check_folder(folder) if folder else (env.git_folder or default_folder(env))
    env.git_provider = provider if remote else None
    env.git_username = _checked_username(username) if remote else None
    env.git_known_hosts = (
        ssh_keys.normalize_known_hosts(known_hosts) if remote and known_hosts else None
    )
    changed = {
        "token_changed": _set_secret(env, "github_token_encrypted", token, _token),
        "ssh_key_changed": _set_secret(
            env, "git_ssh_key_encrypted", ssh_private_key, ssh_keys.normalize_private_key
        ),
    }
    env.git_attach_job_id = None
    return changed


def _checked_remote(url: str | None, *, allow_private: bool) -> RemoteUrl | None:
    """The remote, if its address passes the policy now. A name that does not resolve yet is
    accepted (the test says so); every operation checks the address again anyway."""
    if not url or not url.strip():
        return None
    remote = parse_remote_url(url, allow_http=allow_private)
    with contextlib.suppress(OSError):
        resolve_checked(remote.host.strip("[]"), remote.port, allow_private=allow_private)
    return remote


def _check_credentials(remote, token, ssh_key, env: Environment, known_hosts) -> None:
    has_token = token not in (KEEP, None) or (token is KEEP and env.github_token_encrypted)
    has_key = ssh_key not in (KEEP, None) or (ssh_key is KEEP and env.git_ssh_key_encrypted)
    if remote is None:
        if token not in (KEEP, None) or ssh_key not in (KEEP, None) or known_hosts:
            raise InvalidInput(
                "The embedded repository takes no credentials; set repository_url to use a remote.",
                code="conflicting_git_credentials",
            )
        return
    if remote.is_ssh and has_token:
        raise InvalidInput(
            "A token works over HTTPS; an ssh:// repository needs a deploy key "
            "(ssh_private_key or generate_ssh_key).",
            code="conflicting_git_credentials",
        )
    if not remote.is_ssh and (has_key or known_hosts):
        raise InvalidInput(
            "A deploy key and known hosts work over SSH; an https:// repository takes a token.",
            code="conflicting_git_credentials",
        )
    if remote.is_ssh and not has_key:
        raise InvalidInput(
            "An ssh:// repository needs a deploy key: give ssh_private_key or set "
            "generate_ssh_key and add the public key to the repository.",
            code="git_ssh_key_required",
        )


def _checked_username(username: str | None) -> str | None:
    if username is None or not username.strip():
        return None
    username = username.strip()
    if ":" in username or any(ord(c) < 32 for c in username):
        raise InvalidInput("The username must not contain ':' or control characters.")
    return username


def _token(value: str) -> str:
    token = value.strip()
    if not token or any(c.isspace() or ord(c) < 32 for c in token):
        raise InvalidInput("The token must be one word with no spaces or control characters.")
    return token


def _set_secret(env: Environment, column: str, value: Any, normalize) -> bool:
    if value is KEEP:
        return False
    before = getattr(env, column)
    setattr(env, column, keyring().encrypt(normalize(value)) if value else None)
    return before is not None or value is not None


# --- testing it ----------------------------------------------------------------------------


def run_check(env_id: uuid.UUID) -> GitCheck:
    """Test the environment's Git now (a few seconds at most) and say what is wrong."""
    env = get_environment(env_id)
    try:
        target = target_for(env)
    except (GitRemoteRequired, GitAttachPending) as error:
        return GitCheck(False, error.code.removeprefix("git_"), error.message, "", "")
    return check(target)


# --- attaching the embedded repository to a remote -------------------------------------------


def start_attach(
    env_id: uuid.UUID, *, user_id: uuid.UUID | None, all_environments: bool = True, **remote
) -> tuple[GitSettings, Any]:
    """Move the embedded repository's history to a remote: configure the remote on this
    environment (and, with ``all_environments``, on every environment still on the embedded
    repository, each keeping its folder), then start the git_attach job that pushes the
    history. Until it completes, their Git operations answer GitAttachPending."""
    env = get_environment(env_id)
    if env.github_repo_url:
        raise Conflict(
            "This environment already uses a remote repository; attaching moves the embedded one.",
            code="git_not_embedded",
        )
    if not config.current().embedded_git:
        raise remote_required()
    if not (remote.get("repository_url") or "").strip():
        raise InvalidInput("Attaching needs the remote's repository_url.", code="invalid_git_url")
    if remote.pop("generate_ssh_key", False):
        # One key for every environment that moves: one deploy key to add to the repository.
        remote["ssh_private_key"] = ssh_keys.generate_private_key()
    moving = [env]
    if all_environments:
        moving += db.scalars(
            select(Environment).where(
                Environment.tenant_id == env.tenant_id,
                Environment.github_repo_url.is_(None),
                Environment.id != env.id,
            )
        ).all()
    job = jobs.start(
        "git_attach",
        resource_type="environment",
        resource_id=env.id,
        params={"environment_ids": [str(e.id) for e in moving]},
        concurrency_key=f"git_attach:{env.tenant_id}",
        user_id=user_id,
    )
    for each in moving:
        # Only the environment asked about may get a new folder; the others keep theirs.
        fields = remote if each is env else {**remote, "folder": None}
        _reconfigure(each, "environment.git.attach", fields, attach_job_id=job.id)
    db.commit()
    return _shown(env), job
