"""Running git itself: a clean environment, bounded time, and output scrubbed of secrets.

No secret is ever an argument (``ps`` shows arguments to every user): credentials reach git
through its environment (see ``transport``), which only the same user and root can read.
Whatever git prints may still echo one (a server's message, a URL), so everything surfaced
passes through a Scrubber first.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from services.git.errors import GitRemoteError

GIT = shutil.which("git") or "git"

#: Seconds a local command (object reads, fast-import, update-ref) may run.
LOCAL_TIMEOUT_S = 300.0
#: Seconds a command that talks to a remote (fetch, push, ls-remote) may run.
REMOTE_TIMEOUT_S = 600.0

#: Variables of our own environment git may see: the path, proxies, CA bundles.
_PASSTHROUGH = (
    "PATH",
    "TMPDIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)

_URL_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
_AUTH_HEADER = re.compile(r"((?:proxy-)?authorization:\s*)\S.*", re.IGNORECASE)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)


class Scrubber:
    """Removes secrets from text: the given values (also base64- and URL-encoded), userinfo
    in URLs, Authorization headers and private key blocks."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if secret:
                variants |= {secret, quote(secret, safe=""), _b64(secret)}
        # Longest first, so a value containing another is removed whole.
        self._values = sorted((v for v in variants if len(v) >= 4), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        text = _PRIVATE_KEY.sub("[private key]", text)
        text = _AUTH_HEADER.sub(r"\1***", text)
        return _URL_USERINFO.sub("***@", text)


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


SCRUB = Scrubber()


@dataclass(frozen=True)
class GitOutput:
    stdout: bytes
    stderr: str  # scrubbed
    returncode: int = 0


class GitCommandError(Exception):
    """A git command failed; ``stderr`` is already scrubbed, so the error is safe to show."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str, *, timed_out=False):
        self.command = args[0] if args else "git"
        self.returncode = returncode
        self.stderr = stderr
        self.timed_out = timed_out
        what = "timed out" if timed_out else f"exited with {returncode}"
        super().__init__(f"git {self.command} {what}: {last_lines(stderr)}")


def last_lines(text: str, count: int = 3, limit: int = 500) -> str:
    """The end of git's output, where it says what went wrong, on one line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:])[-limit:]


#: Settings of every git we run: no background maintenance outliving the command (it would
#: run outside the repository lock), no reflogs or commit graphs in caches nobody reads.
BASE_CONFIG: tuple[tuple[str, str], ...] = (
    ("gc.autoDetach", "false"),
    ("maintenance.autoDetach", "false"),
    ("core.logAllRefUpdates", "false"),
    ("fetch.writeCommitGraph", "false"),
)


def clean_env(
    home: Path,
    extra: Mapping[str, str] | None = None,
    settings: Sequence[tuple[str, str]] = (),
) -> dict[str, str]:
    """The environment of every git we run: no user or system config, no prompts, English
    messages (they are diagnosed), HOME an empty private folder; BASE_CONFIG and
    ``settings`` as GIT_CONFIG_* variables (never arguments: they may carry a secret)."""
    env = {name: os.environ[name] for name in _PASSTHROUGH if name in os.environ}
    env.update(
        HOME=str(home),
        LANG="C",
        LC_ALL="C",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_ATTR_NOSYSTEM="1",
        # Paths are file names, never patterns: a workflow named "a*" is just that.
        GIT_LITERAL_PATHSPECS="1",
    )
    entries = [*BASE_CONFIG, *settings]
    env["GIT_CONFIG_COUNT"] = str(len(entries))
    for index, (key, value) in enumerate(entries):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env.update(extra or {})
    return env


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    git_dir: Path | None = None,
    stdin: bytes | None = None,
    timeout: float = LOCAL_TIMEOUT_S,
    scrub: Scrubber = SCRUB,
    check: bool = True,
) -> GitOutput:
    """Run ``git <args>`` (in ``git_dir`` when given); raise GitCommandError on failure
    (unless ``check`` is False: then the caller reads ``returncode``).

    Git runs in its own process group, so a timeout also ends the helpers it started
    (git-remote-https, ssh) instead of leaving them holding our pipes.
    """
    command = [GIT]
    if git_dir is not None:
        command.append(f"--git-dir={git_dir}")
    command.extend(args)
    process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments we built
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        stderr_text = scrub(stderr.decode(errors="replace"))
        raise GitCommandError(args, -9, stderr_text, timed_out=True) from None
    text = scrub(stderr.decode(errors="replace"))
    if check and process.returncode != 0:
        raise GitCommandError(args, process.returncode, text)
    return GitOutput(stdout, text, process.returncode)


#: (pattern in git's output, reason), first match wins. Messages of git, curl, OpenSSH and
#: the usual hosts (GitHub, GitLab, Gitea, Bitbucket).
_DIAGNOSES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), reason)
    for pattern, reason in (
        (r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key .* has changed", "host_key_mismatch"),
        (r"No \S+ host key is known|Host key verification failed", "host_key_unknown"),
        (r"couldn't find remote ref", "branch_missing"),
        (
            r"SSL certificate problem|server certificate verification failed|"
            r"SSL_connect|gnutls_handshake|TLS connect error|SSL routines",
            "tls_error",
        ),
        (
            r"Could not resolve host|Could not resolve hostname|Name or service not known",
            "unreachable",
        ),
        (r"timed out|Timeout was reached|Operation too slow", "timeout"),
        (
            r"Failed to connect|Connection refused|No route to host|Network is unreachable|"
            r"Connection reset|Empty reply from server|Connection closed by remote host|"
            r"Couldn't connect to server",
            "unreachable",
        ),
        (r"returned error: 30[1278]|redirect", "moved"),
        (
            r"marked as read only|Permission to \S+ denied|You are not allowed to push|"
            r"write access to repository not granted|denied to deploy key|"
            r"not allowed to push|access denied.*push",
            "no_write_access",
        ),
        (
            r"Authentication failed|could not read Username|could not read Password|"
            r"HTTP Basic: Access denied|Invalid username or password|returned error: 401|"
            r"Permission denied \(publickey|Permission denied, please try again|"
            r"Invalid credentials",
            "auth_failed",
        ),
        (
            r"Repository not found|repository '.*' not found|returned error: 404|"
            r"does not appear to be a git repository|project you were looking for could not "
            r"be found|not a git repository|No such file or directory",
            "not_found",
        ),
        (r"returned error: 403", "forbidden"),
        (r"protected branch|pre-receive hook declined|hook declined", "push_rejected"),
    )
)


def diagnose(error: GitCommandError, *, writing: bool = False) -> GitRemoteError:
    """The domain error for a failed remote command: what is wrong, in the user's terms.

    A 403 means "cannot push" when writing and "these credentials may not read" otherwise.
    """
    if error.timed_out:
        return GitRemoteError("timeout", "no answer within the time limit")
    reason = "error"
    for pattern, candidate in _DIAGNOSES:
        if pattern.search(error.stderr):
            reason = candidate
            break
    if reason == "forbidden":
        reason = "no_write_access" if writing else "auth_failed"
    return GitRemoteError(reason, last_lines(error.stderr))
