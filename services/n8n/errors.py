"""Typed failures of the n8n client; messages never carry the API key."""

from __future__ import annotations


class N8nError(Exception):
    """Base of every failure talking to an n8n instance."""

    #: Stable slug recorded on jobs and health checks.
    code = "n8n_error"
    #: Whether the same request may succeed if sent again later.
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        n8n_message: str | None = None,
        request_sent: bool = True,
        source: str | None = None,
    ) -> None:
        where = f"{method} {path}: " if method and path else ""
        super().__init__((f"{source}: " if source else "") + where + message)
        self.status = status
        self.method = method
        self.path = path
        #: The instance's own ``message`` field, when it sent one.
        self.n8n_message = n8n_message
        #: False when the request surely never reached n8n (no connection): safe to resend.
        self.request_sent = request_sent
        #: Which instance answered (or did not): "environment 'prod'", say.
        self.source = source


class N8nUnreachable(N8nError):
    """No connection: refused, reset, or the name does not resolve."""

    code = "n8n_unreachable"
    retryable = True


class N8nTLSError(N8nError):
    """The TLS handshake failed (bad certificate, wrong host name, protocol mismatch)."""

    code = "n8n_tls_error"


class N8nTimeout(N8nError):
    """Connecting or reading took longer than the client allows (or a 408)."""

    code = "n8n_timeout"
    retryable = True


class N8nAddressRefused(N8nError):
    """The URL resolves to an address the URL-safety policy does not allow."""

    code = "n8n_address_refused"


class N8nHttpError(N8nError):
    """An HTTP error status without a more specific class."""

    code = "n8n_http_error"
    #: Seconds the server asked to wait (Retry-After), if it did.
    retry_after_s: float | None = None


class N8nBadRequest(N8nHttpError):
    """400: n8n rejected the request; ``n8n_message`` says why."""

    code = "n8n_bad_request"


class N8nUnauthorized(N8nHttpError):
    """401: the API key is missing, wrong or revoked."""

    code = "n8n_unauthorized"


class N8nForbidden(N8nHttpError):
    """403: the key lacks a scope, or the instance's license lacks the feature."""

    code = "n8n_forbidden"


class N8nNotFound(N8nHttpError):
    """404: no such object, or not shared with the key's user."""

    code = "n8n_not_found"


class N8nMethodNotAllowed(N8nHttpError):
    """405: this n8n version lacks the endpoint (e.g. listing credentials on 1.x)."""

    code = "n8n_method_not_allowed"


class N8nConflict(N8nHttpError):
    """409: a duplicate (tag name) or a conflicting state."""

    code = "n8n_conflict"


class N8nRateLimited(N8nHttpError):
    """429 after every retry was spent."""

    code = "n8n_rate_limited"
    retryable = True


class N8nServerError(N8nHttpError):
    """5xx after every retry was spent."""

    code = "n8n_server_error"
    retryable = True


class N8nNotN8n(N8nError):
    """The answer is not what the n8n public API sends (content type, shape, paging)."""

    code = "n8n_not_n8n"


class N8nResponseTooLarge(N8nError):
    """The answer exceeded the client's byte cap and was cut off."""

    code = "n8n_response_too_large"
