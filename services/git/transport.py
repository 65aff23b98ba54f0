"""Reaching a remote: URL rules, credentials, and the environment git runs with.

HTTPS: the token goes in an ``http.extraHeader`` (Basic auth, the provider's username
convention) set through GIT_CONFIG_COUNT/KEY/VALUE variables, never the command line or the
URL. Redirects are refused (they could lead the header, or the connection, elsewhere).
SSH: the deploy key is written to a 0600 file in a private 0700 folder that exists only for
the command; ssh reads only it (IdentitiesOnly, no agent, no user config) and checks the
host key strictly against the known hosts of ``ssh_keys``.
Both: the host is resolved and checked by ``url_safety`` first, and git connects only to the
addresses checked (curl's resolve list; ssh's HostName), so DNS cannot swap in a private
address between the check and the connection. Only the URL's own protocol is allowed.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from services.errors import InvalidInput
from services.git import ssh_keys
from services.git.command import Scrubber, clean_env
from services.git.errors import GitRemoteError
from services.url_safety import UnsafeUrlError, resolve_checked

#: Username sent with a token over HTTPS when none is configured, per provider: GitHub takes
#: any (x-access-token also works for app tokens), GitLab oauth2 (deploy tokens need their
#: own username), Bitbucket x-token-auth for access tokens (API tokens and app passwords
#: need the account's username). Gitea checks the token alone when it is sent as the
#: username with the password x-oauth-basic, which every Gitea version accepts.
TOKEN_USERNAMES = {
    "github": "x-access-token",
    "gitlab": "oauth2",
    "bitbucket": "x-token-auth",
    "generic": "git",
}
GITEA_TOKEN_PASSWORD = "x-oauth-basic"  # noqa: S105 - a fixed marker, not a secret

#: Provider by well-known host; any other host is "generic" unless configured.
PROVIDER_BY_HOST = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "bitbucket.org": "bitbucket",
    "codeberg.org": "gitea",
    "gitea.com": "gitea",
}

#: Bytes per second below which a transfer counts as stalled, and for how many seconds.
LOW_SPEED_LIMIT_BPS = 1000
LOW_SPEED_TIME_S = 60
#: Seconds ssh waits for the TCP connection.
SSH_CONNECT_TIMEOUT_S = 15

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:\s]+)@)?(?P<host>[^@/:\s\[\]]+):(?P<path>[^\s].*)$")
#: git's "<transport>::<address>" syntax (ext::, fd::): runs helpers, never a remote of ours.
_TRANSPORT_SYNTAX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_HOST = re.compile(r"^[A-Za-z0-9.\-_]+$|^\[[0-9A-Fa-f:.]+\]$")


@dataclass(frozen=True)
class RemoteUrl:
    """A repository URL as configured, and its parts."""

    url: str
    scheme: str  # https, http or ssh
    host: str
    port: int
    user: str | None = None  # SSH only
    path: str = ""

    @property
    def is_ssh(self) -> bool:
        return self.scheme == "ssh"


def parse_remote_url(url: str, *, allow_http: bool) -> RemoteUrl:
    """Validate a repository URL: https (http only when private networks are allowed), ssh://
    or scp-like ``user@host:path``. No password, no token, no query: credentials go apart."""
    url = url.strip()
    if any(c.isspace() for c in url) or _TRANSPORT_SYNTAX.match(url):
        raise _bad_url("Use an https:// or ssh:// URL (no spaces, no <transport>::).")
    if "://" not in url:
        match = _SCP_LIKE.match(url)
        if not match:
            raise _bad_url("Use an https:// or ssh:// URL, or git@host:owner/repo.git.")
        parsed = RemoteUrl(url, "ssh", match["host"], 22, match["user"], match["path"].rstrip("/"))
    else:
        parsed = _parse_url(url, allow_http=allow_http)
    if not _HOST.match(parsed.host) or parsed.host.startswith("-"):
        raise _bad_url(f"The host {parsed.host!r} is not a valid host name.")
    if not parsed.path.strip("/") or parsed.path.startswith("-"):
        raise _bad_url("The URL names no repository path.")
    if any(ord(c) < 32 or c in "\\" for c in url):
        raise _bad_url("The URL contains control characters or backslashes.")
    return parsed


def _parse_url(url: str, *, allow_http: bool) -> RemoteUrl:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    allowed = {"https", "ssh"} | ({"http"} if allow_http else set())
    if scheme not in allowed:
        hint = " (plain http only where private networks are allowed)" if scheme == "http" else ""
        raise _bad_url(f"Only https:// and ssh:// repository URLs are allowed{hint}.")
    if parts.query or parts.fragment:
        raise _bad_url("The URL must not have a query or fragment.")
    if parts.password is not None:
        raise _bad_url("The URL must not carry a password or token; give the token separately.")
    if parts.username is not None and scheme != "ssh":
        raise _bad_url("Put the username in the username field, not in the URL.")
    try:
        port = parts.port
    except ValueError:
        raise _bad_url("The URL has an invalid port.") from None
    if not parts.hostname:
        raise _bad_url("The URL has no host.")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default_port = {"https": 443, "http": 80, "ssh": 22}[scheme]
    return RemoteUrl(url, scheme, host, port or default_port, parts.username, parts.path)


def _bad_url(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_git_url")


def infer_provider(host: str) -> str:
    return PROVIDER_BY_HOST.get(host.lower(), "gitea" if "gitea" in host.lower() else "generic")


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to a remote. Secrets are hidden from repr (so from tracebacks)."""

    token: str | None = field(default=None, repr=False)
    username: str | None = None
    ssh_key: str | None = field(default=None, repr=False)
    known_hosts: str | None = None
    provider: str | None = None

    def basic_auth(self, host: str) -> str | None:
        """``user:password`` for HTTPS basic auth, by the provider's convention."""
        if not self.token:
            return None
        provider = self.provider or infer_provider(host)
        if provider == "gitea" and not self.username:
            return f"{self.token}:{GITEA_TOKEN_PASSWORD}"
        username = self.username or TOKEN_USERNAMES.get(provider, TOKEN_USERNAMES["generic"])
        return f"{username}:{self.token}"


@dataclass(frozen=True)
class RemoteSession:
    """The environment for git commands that talk to one remote, and the scrubber for
    whatever they print."""

    url: str
    env: dict[str, str] = field(repr=False)
    scrub: Scrubber = field(repr=False)


@contextmanager
def remote_session(
    remote: RemoteUrl, credentials: Credentials, *, allow_private: bool
) -> Iterator[RemoteSession]:
    """Check the remote's address, then yield what git needs to reach it; key files and the
    private HOME are removed on exit."""
    addresses = _checked_addresses(remote, allow_private=allow_private)
    home = Path(tempfile.mkdtemp(prefix="n8nops-git-"))
    try:
        secrets = [credentials.token or "", credentials.ssh_key or ""]
        settings: list[tuple[str, str]] = [("credential.helper", "")]
        extra = {"GIT_ALLOW_PROTOCOL": remote.scheme}
        if remote.is_ssh:
            extra["GIT_SSH_COMMAND"] = _ssh_command(home, remote, credentials, addresses[0])
            extra["GIT_SSH_VARIANT"] = "ssh"
        else:
            settings += _http_settings(remote, addresses)
            basic = credentials.basic_auth(remote.host)
            if basic:
                encoded = base64.b64encode(basic.encode()).decode()
                settings.append(("http.extraHeader", f"Authorization: Basic {encoded}"))
                secrets += [basic, encoded]
        yield RemoteSession(remote.url, clean_env(home, extra, settings), Scrubber(secrets))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _checked_addresses(remote: RemoteUrl, *, allow_private: bool) -> list[str]:
    host = remote.host.strip("[]")
    try:
        return resolve_checked(host, remote.port, allow_private=allow_private)
    except UnsafeUrlError as error:
        raise GitRemoteError("refused_address", error.message) from None
    except (socket.gaierror, UnicodeError):
        raise GitRemoteError("unreachable", f"the host {host!r} does not resolve") from None


def _http_settings(remote: RemoteUrl, addresses: list[str]) -> list[tuple[str, str]]:
    pinned = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
    return [
        ("http.curloptResolve", f"{remote.host.strip('[]')}:{remote.port}:{pinned}"),
        ("http.followRedirects", "false"),
        ("http.sslVerify", "true"),
        ("http.lowSpeedLimit", str(LOW_SPEED_LIMIT_BPS)),
        ("http.lowSpeedTime", str(LOW_SPEED_TIME_S)),
    ]


def _ssh_command(home: Path, remote: RemoteUrl, credentials: Credentials, address: str) -> str:
    host = remote.host.strip("[]")
    known_hosts = home / "known_hosts"
    known_hosts.write_text(ssh_keys.known_hosts_for(host, remote.port, credentials.known_hosts))
    options = {
        "IdentitiesOnly": "yes",
        "IdentityAgent": "none",
        "BatchMode": "yes",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "StrictHostKeyChecking": "yes",
        "UpdateHostKeys": "no",
        "UserKnownHostsFile": str(known_hosts),
        "GlobalKnownHostsFile": os.devnull,
        "HostKeyAlias": ssh_keys.host_alias(host, remote.port),
        "HostName": address,
        "ConnectTimeout": str(SSH_CONNECT_TIMEOUT_S),
        "ServerAliveInterval": "15",
        "ServerAliveCountMax": "4",
        "LogLevel": "ERROR",
    }
    if not remote.user:
        options["User"] = "git"
    command = ["ssh", "-F", os.devnull]
    if credentials.ssh_key:
        key_file = home / "deploy_key"
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(credentials.ssh_key.strip() + "\n")
        command += ["-i", str(key_file)]
    for name, value in options.items():
        command += ["-o", f"{name}={value}"]
    return shlex.join(command)
