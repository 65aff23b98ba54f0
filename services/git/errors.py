"""What can go wrong with Git, as domain errors the API maps once and jobs understand.

Every message is safe to show and store: git's own output reaches an error only after
scrubbing (see ``command.Scrubber``), and no secret is ever part of an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.errors import Conflict, NotFound, Unavailable

#: Why a remote operation failed, with what to tell the user. Keys are the ``reason`` of
#: GitRemoteError and the ``status`` of a connection test.
REASONS: dict[str, str] = {
    "auth_failed": "The remote refused the credentials: check the token (and its username) "
    "or the deploy key.",
    "not_found": "The repository was not found, or these credentials cannot see it.",
    "branch_missing": "The branch does not exist in the repository.",
    "no_write_access": "The credentials can read the repository but not push to it.",
    "push_rejected": "The remote refused the push (a protected branch or a server hook).",
    "remote_not_empty": "The remote branch already has commits that are not in the "
    "embedded repository.",
    "unreachable": "Nothing answered at the repository's address.",
    "tls_error": "The TLS handshake failed: check the server's certificate.",
    "timeout": "The remote did not answer in time.",
    "moved": "The repository URL redirects elsewhere: use the new URL.",
    "host_key_unknown": "The SSH host key of the server is not trusted yet: add it to the "
    "known hosts.",
    "host_key_mismatch": "The SSH server presented a host key that differs from the trusted "
    "one (possible man-in-the-middle).",
    "refused_address": "The repository's address is not allowed.",
    "error": "Git failed.",
}

#: Failures that may clear up by themselves, so a job may try again.
TRANSIENT_REASONS = frozenset({"unreachable", "timeout", "error"})


class GitRemoteError(Unavailable):
    """Talking to the remote failed; ``reason`` is one of REASONS, ``detail`` git's scrubbed
    words. ``retryable`` tells the job core whether another attempt may help."""

    def __init__(self, reason: str, detail: str = "") -> None:
        message = REASONS[reason] + (f" ({detail})" if detail else "")
        super().__init__(message, code=f"git_{reason}", reason=reason)
        self.reason = reason
        self.detail = detail
        self.retryable = reason in TRANSIENT_REASONS


class GitBusy(Unavailable):
    """Another process held the repository for too long; trying again later is right."""

    code = "git_busy"
    retryable = True


class GitRemoteRequired(Conflict):
    """The tenant has no remote and this deployment cannot keep an embedded repository."""

    code = "git_remote_required"
    retryable = False


class GitAttachPending(Conflict):
    """The environment waits for its embedded history to reach its new remote."""

    code = "git_attach_pending"
    retryable = True


class GitRefNotFound(NotFound):
    """A commit asked for is not in the repository."""

    code = "git_ref_not_found"
    retryable = False


@dataclass(frozen=True)
class FileConflict:
    """One file someone else changed: what the caller expected there and what is there now
    (blob ids; None means no file)."""

    path: str
    expected: str | None
    actual: str | None

    def as_dict(self) -> dict:
        return {"path": self.path, "expected": self.expected, "actual": self.actual}


class GitConflict(Conflict):
    """Files of a change set were changed by someone else: nothing was committed."""

    code = "git_conflict"
    retryable = False

    def __init__(self, conflicts: list[FileConflict]) -> None:
        names = ", ".join(c.path for c in conflicts[:5])
        more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        super().__init__(
            f"Changed in Git by someone else since it was read: {names}{more}. Nothing was "
            "committed; read the files again and redo the change.",
            conflicts=[c.as_dict() for c in conflicts],
        )
        self.conflicts = conflicts
