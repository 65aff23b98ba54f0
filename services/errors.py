"""Domain errors. Services raise them; web/ maps each to one HTTP status, once."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of the errors a caller can act on; ``code`` is a stable machine-readable slug."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class InvalidInput(DomainError):
    status = 400
    code = "invalid_input"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    """The request clashes with the current state (a duplicate, an illegal transition)."""

    status = 409
    code = "conflict"


class PolicyBlocked(DomainError):
    """A plan limit, entitlement or governance policy refuses the action."""

    status = 403
    code = "policy_blocked"


class TooManyRequests(DomainError):
    """Too many attempts: try again after ``retry_after_s`` seconds (sent as Retry-After)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, **details: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)
        self.headers = {"Retry-After": str(retry_after_s)}


class Unavailable(DomainError):
    """A dependency (database, broker, an n8n instance) cannot serve the request now."""

    status = 503
    code = "unavailable"
