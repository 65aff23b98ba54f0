"""Client for one n8n instance's public REST API (v1): pooled, bounded, retried, typed errors."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import orjson
import requests
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from services import deadline, metrics
from services.n8n.errors import (
    N8nAddressRefused,
    N8nBadRequest,
    N8nConflict,
    N8nError,
    N8nForbidden,
    N8nHttpError,
    N8nMethodNotAllowed,
    N8nNotFound,
    N8nNotN8n,
    N8nRateLimited,
    N8nResponseTooLarge,
    N8nServerError,
    N8nTimeout,
    N8nTLSError,
    N8nUnauthorized,
    N8nUnreachable,
)
from services.n8n.payload import workflow_write_body
from services.n8n.transport import CheckedAdapter
from services.url_safety import UnsafeUrlError, check_url

API_PREFIX = "/api/v1"
USER_AGENT = "n8n-ops"
#: Largest page n8n serves; a bigger ``limit`` is a 400.
MAX_PAGE_SIZE = 250
#: Seconds to establish a connection, and to wait for each read from the socket.
DEFAULT_TIMEOUT_S = (5.0, 30.0)
#: Retries after the first attempt, for failures that may pass (408, 429, 5xx, network).
DEFAULT_MAX_RETRIES = 3
#: Seconds before the first retry; doubled for each further one.
DEFAULT_BACKOFF_S = 0.5
#: Seconds any single wait between retries is capped at, Retry-After included.
DEFAULT_MAX_BACKOFF_S = 8.0
#: Bytes of one decoded answer; a page of 250 large workflows fits, a runaway answer does not.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Seconds one attempt may take in all, however slowly the server drips its answer.
DEFAULT_MAX_ATTEMPT_S = 120.0
#: Connections kept open to one instance.
DEFAULT_POOL_SIZE = 4
#: Bytes read from the socket at a time while counting towards the cap.
_CHUNK_BYTES = 64 * 1024

_STATUS_ERRORS: dict[int, type[N8nError]] = {
    400: N8nBadRequest,
    401: N8nUnauthorized,
    403: N8nForbidden,
    404: N8nNotFound,
    405: N8nMethodNotAllowed,
    408: N8nTimeout,
    409: N8nConflict,
    429: N8nRateLimited,
}
#: The readable core of a socket or TLS failure inside urllib3's wrapped messages.
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")(]+|\[SSL[^\]]*\][^'\")(]*")
#: Execution fields that hold execution ids: numbers in some versions, strings in others.
_EXECUTION_ID_FIELDS = ("id", "retryOf", "retrySuccessId")


@dataclass(frozen=True)
class VersionInfo:
    """The API family an instance speaks, and what showed it."""

    family: str
    evidence: str


class N8nClient:
    """One n8n instance over one pooled session (one client per thread); ``close()`` when done."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_attempt_s: float = DEFAULT_MAX_ATTEMPT_S,
        allow_private: bool = False,
        verify: bool | str = True,
        pool_size: int = DEFAULT_POOL_SIZE,
        environment_class: str = "unknown",
        source: str | None = None,
    ) -> None:
        """``source`` names the instance in every error (an environment's name, say).

        Every call is bounded by ``timeout`` (connect, read), ``max_attempt_s`` per attempt,
        the retries, and the deadline of the unit of work around it (services.deadline: a
        job's time limit), whichever ends first.
        """
        if not api_key:
            raise ValueError("An n8n API key is required")
        # Syntax only here; addresses are checked on every connection (see transport.py).
        root = check_url(base_url, allow_private=allow_private, resolve=False)
        self.base_url = root.removesuffix(API_PREFIX)
        self._api = self.base_url + API_PREFIX
        self._key = api_key
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_bytes = max_response_bytes
        self._max_attempt_s = max_attempt_s
        #: The metrics label of this instance's calls (dev, staging, production).
        self._environment_class = environment_class
        #: Who the client talks for, in its error messages ("environment 'prod'").
        self._source = source
        self._session = requests.Session()
        # No proxies or .netrc from the environment: the key goes to the checked host only.
        self._session.trust_env = False
        self._session.verify = verify
        self._session.headers.update(
            {"X-N8N-API-KEY": api_key, "Accept": "application/json", "User-Agent": USER_AGENT}
        )
        adapter = CheckedAdapter(allow_private=allow_private, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"N8nClient({self.base_url!r})"

    def __enter__(self) -> N8nClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # Workflows

    def iter_workflows(
        self,
        *,
        page_size: int = MAX_PAGE_SIZE,
        active: bool | None = None,
        tags: Sequence[str] | None = None,
        name: str | None = None,
        project_id: str | None = None,
        exclude_pinned_data: bool | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of workflows; ``tags`` are names and match any of them."""
        filters = {
            "active": active,
            "tags": ",".join(tags) if tags else None,
            "name": name,
            "projectId": project_id,
            "excludePinnedData": exclude_pinned_data,
        }
        return self.iter_pages("/workflows", filters, page_size=page_size)

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._object("GET", _path("workflows", workflow_id))

    def create_workflow(self, workflow: Mapping[str, Any]) -> dict[str, Any]:
        """Create from the writable fields only; n8n assigns the id and leaves it inactive."""
        return self._object("POST", "/workflows", body=workflow_write_body(workflow))

    def update_workflow(self, workflow_id: str, workflow: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the writable fields (no locking: a concurrent editor's change is lost)."""
        path = _path("workflows", workflow_id)
        return self._object("PUT", path, body=workflow_write_body(workflow))

    def delete_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._object("DELETE", _path("workflows", workflow_id))

    def activate_workflow(self, workflow_id: str) -> dict[str, Any]:
        """Activate; a trigger that cannot start is an N8nBadRequest with n8n's reason."""
        path = _path("workflows", workflow_id, "activate")
        return self._object("POST", path, idempotent=True)

    def deactivate_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._object("POST", _path("workflows", workflow_id, "deactivate"), idempotent=True)

    def get_workflow_tags(self, workflow_id: str) -> list[dict[str, Any]]:
        return self._array("GET", _path("workflows", workflow_id, "tags"))

    def set_workflow_tags(self, workflow_id: str, tag_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Replace the workflow's tags with these (per-instance) tag ids."""
        body = [{"id": tag_id} for tag_id in tag_ids]
        return self._array("PUT", _path("workflows", workflow_id, "tags"), body=body)

    # Tags

    def list_tags(self, *, page_size: int = MAX_PAGE_SIZE) -> list[dict[str, Any]]:
        return [tag for page in self.iter_pages("/tags", page_size=page_size) for tag in page]

    def create_tag(self, name: str) -> dict[str, Any]:
        """Create a tag; an existing name is an N8nConflict."""
        return self._object("POST", "/tags", body={"name": name})

    # Executions

    def iter_executions(
        self,
        *,
        page_size: int = MAX_PAGE_SIZE,
        status: str | None = None,
        workflow_id: str | None = None,
        include_data: bool = False,
        project_id: str | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of executions, newest first; ids always strings."""
        filters = {
            "status": status,
            "workflowId": workflow_id,
            "includeData": include_data or None,
            "projectId": project_id,
        }
        for page in self.iter_pages("/executions", filters, page_size=page_size):
            yield [_execution(item) for item in page]

    def get_execution(self, execution_id: str, *, include_data: bool = False) -> dict[str, Any]:
        params = {"includeData": include_data} if include_data else None
        return _execution(self._object("GET", _path("executions", execution_id), params=params))

    # Credentials: create, delete and a type's schema (1.x and 2.x)

    def credential_schema(self, cred_type: str) -> dict[str, Any]:
        """The JSON schema n8n checks a credential's data against (N8nNotFound: no such type)."""
        return self._object("GET", _path("credentials", "schema", cred_type))

    def create_credential(
        self, name: str, cred_type: str, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create a credential (its metadata back); data off the type's schema is a 400."""
        body = {"name": name, "type": cred_type, "data": dict(data)}
        return self._object("POST", "/credentials", body=body)

    def delete_credential(self, credential_id: str) -> dict[str, Any]:
        return self._object("DELETE", _path("credentials", credential_id))

    # Credentials (2.x; on 1.x these are N8nMethodNotAllowed)

    def iter_credentials(self, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
        """Pages of credential metadata (never their data)."""
        return self.iter_pages("/credentials", page_size=page_size)

    def test_credential(self, credential_id: str) -> dict[str, Any]:
        """n8n's own connection test of a credential: ``{"status", "message"}``."""
        path = _path("credentials", credential_id, "test")
        return self._object("POST", path, idempotent=True)

    # Version

    def probe_version(self) -> VersionInfo:
        """Check URL, key and API with one small listing, then tell 1.x from 2.x."""
        next(self.iter_pages("/workflows", page_size=1))
        try:
            self.request("GET", "/credentials", params={"limit": 1})
        except (N8nMethodNotAllowed, N8nNotFound) as error:
            return VersionInfo("1.x", f"GET /credentials answered {error.status}: no listing")
        except N8nForbidden:
            return VersionInfo("2.x", "GET /credentials exists (403: the key lacks the scope)")
        return VersionInfo("2.x", "GET /credentials lists credentials")

    # Transport

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[list[dict[str, Any]]]:
        """Each page's items, following ``nextCursor`` until n8n sends null."""
        # 0 is no limit to n8n, with a cursor back to the same page: an endless loop.
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, not {page_size}")
        # Filters go with every page: the cursor carries only the position.
        query = {**(params or {}), "limit": page_size}
        seen: set[str] = set()
        while True:
            try:
                answer = self.request("GET", path, params=query)
            except N8nNotFound as error:
                # n8n serves its listings whatever they hold: a 404 here, even in JSON, is
                # another server (or a path in front of n8n that is not its API).
                message = f"answered 404 to a listing n8n always serves ({error.n8n_message})"
                raise self._error(N8nNotN8n, message, "GET", path, status=404) from None
            if not (
                isinstance(answer, dict)
                and isinstance(answer.get("data"), list)
                # A missing nextCursor defaults to 0, which fails the check, unlike null.
                and isinstance(answer.get("nextCursor", 0), str | None)
            ):
                raise self._error(N8nNotN8n, "the answer is not a page", "GET", path)
            yield answer["data"]
            cursor = answer["nextCursor"]
            if cursor is None:
                return
            if cursor in seen:
                raise self._error(N8nNotN8n, "the page cursor repeats", "GET", path)
            seen.add(cursor)
            query["cursor"] = cursor

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """One API call with retries; the decoded JSON answer.

        A POST is resent only when n8n surely did not act on it (no connection, or a 429),
        unless the caller declares it ``idempotent``.
        """
        repeatable = method != "POST" if idempotent is None else idempotent
        query = _query(params)
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                answer = self._attempt(method, path, query, body)
            except N8nError as error:
                self._observe(path, type(error).__name__, started)
                if not self._should_retry(error, attempt, repeatable):
                    raise
                pause = self._backoff(attempt, error)
                left = deadline.remaining()
                if left is not None and pause >= left:
                    raise
                time.sleep(pause)
                attempt += 1
            else:
                self._observe(path, "ok", started)
                return answer

    def _observe(self, path: str, outcome: str, started: float) -> None:
        # The endpoint is the path's first segment: ids would make a series per object.
        endpoint = path.strip("/").split("/", 1)[0]
        metrics.get().n8n_calls.labels(self._environment_class, endpoint, outcome).observe(
            time.perf_counter() - started
        )

    def _should_retry(self, error: N8nError, attempt: int, repeatable: bool) -> bool:
        if attempt >= self._max_retries or not error.retryable:
            return False
        return repeatable or not error.request_sent or isinstance(error, N8nRateLimited)

    def _backoff(self, attempt: int, error: N8nError) -> float:
        # Jitter keeps many workers from retrying one instance in lockstep.
        jitter = 0.5 + random.random() / 2  # noqa: S311 - not a secret
        delay = min(self._backoff_s * 2**attempt, self._max_backoff_s) * jitter
        retry_after = getattr(error, "retry_after_s", None)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._max_backoff_s))
        return delay

    def _limits(self, method: str, path: str) -> tuple[tuple[float, float], float]:
        """(connect, read) timeouts and the attempt's whole budget, within the deadline."""
        left = deadline.remaining()
        if left is None:
            return self._timeout, self._max_attempt_s
        if left <= 0:
            message = "no time left before the job's time limit"
            raise self._error(N8nTimeout, message, method, path, sent=False)
        connect, read = self._timeout
        return (min(connect, left), min(read, left)), min(self._max_attempt_s, left)

    def _attempt(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        started = time.monotonic()
        timeout, budget = self._limits(method, path)
        try:
            response = self._session.request(
                method,
                self._api + path,
                params=query,
                json=body,
                timeout=timeout,
                allow_redirects=False,  # a redirect would carry the key to another host
                stream=True,
            )
            with response:
                raw = self._read(response, started, budget, method, path)
        except UnsafeUrlError as exc:
            raise self._error(N8nAddressRefused, str(exc), method, path) from None
        except requests.RequestException as exc:
            # from None: the requests exception holds the prepared request, key included.
            raise self._transport_error(exc, timeout, method, path) from None
        return self._decode(response, raw, method, path)

    def _read(
        self, response: requests.Response, started: float, budget: float, method: str, path: str
    ) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise self._too_large(method, path)
        chunks, size = [], 0
        for chunk in response.iter_content(_CHUNK_BYTES):
            size += len(chunk)
            if size > self._max_bytes:
                raise self._too_large(method, path)
            if time.monotonic() - started > budget:
                message = f"the answer took over {budget:g}s"
                raise self._error(N8nTimeout, message, method, path)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, method: str, path: str) -> N8nError:
        message = f"the answer exceeds {self._max_bytes} bytes"
        return self._error(N8nResponseTooLarge, message, method, path)

    def _decode(self, response: requests.Response, raw: bytes, method: str, path: str) -> Any:
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            message = f"redirected ({status}) to {location!r}; configure that URL instead"
            raise self._error(N8nNotN8n, message, method, path, status=status)
        payload = _json_or_none(raw, content_type)
        if status >= 400:
            raise self._status_error(response, payload, method, path)
        if payload is None:
            message = f"answered {status} with {content_type or 'no content type'}, not JSON"
            raise self._error(N8nNotN8n, message, method, path, status=status)
        return payload

    def _status_error(
        self, response: requests.Response, payload: Any, method: str, path: str
    ) -> N8nError:
        status = response.status_code
        if payload is None and status == 404:
            message = "answered 404 without JSON: not the n8n public API (URL? API disabled?)"
            return self._error(N8nNotN8n, message, method, path, status=status)
        n8n_message = payload.get("message") if isinstance(payload, dict) else None
        if not isinstance(n8n_message, str):
            n8n_message = None
        cls = _STATUS_ERRORS.get(status) or (N8nServerError if status >= 500 else N8nHttpError)
        text = n8n_message or _phrase(status)
        error = self._error(
            cls, f"n8n answered {status}: {text}", method, path, status=status, n8n=n8n_message
        )
        if isinstance(error, N8nHttpError):
            error.retry_after_s = _retry_after(response.headers.get("Retry-After"))
        return error

    def _transport_error(
        self,
        exc: requests.RequestException,
        timeout: tuple[float, float],
        method: str,
        path: str,
    ) -> N8nError:
        reason = _reason(exc)
        inner = exc.args[0] if exc.args else None
        if isinstance(exc, requests.exceptions.SSLError):
            return self._error(N8nTLSError, f"TLS failed: {reason}", method, path, sent=False)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            message = f"no connection within {timeout[0]:g}s"
            return self._error(N8nTimeout, message, method, path, sent=False)
        # A read timeout while streaming the body surfaces as a ConnectionError.
        if isinstance(exc, requests.exceptions.ReadTimeout) or isinstance(inner, ReadTimeoutError):
            message = f"no answer within {timeout[1]:g}s"
            return self._error(N8nTimeout, message, method, path)
        never_sent = isinstance(getattr(inner, "reason", None), NewConnectionError)
        message = f"cannot reach {self.base_url}: {reason}"
        return self._error(N8nUnreachable, message, method, path, sent=not never_sent)

    def _error(
        self,
        cls: type[N8nError],
        message: str,
        method: str,
        path: str,
        *,
        status: int | None = None,
        n8n: str | None = None,
        sent: bool = True,
    ) -> N8nError:
        """Build an error whose text cannot carry the API key, whatever the server echoed."""
        return cls(
            self._redact(message),
            status=status,
            method=method,
            path=path,
            n8n_message=self._redact(n8n) if n8n is not None else None,
            request_sent=sent,
            source=self._source,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "[redacted]")

    def _object(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        answer = self.request(method, path, params=params, body=body, idempotent=idempotent)
        if not isinstance(answer, dict):
            raise self._error(N8nNotN8n, "expected a JSON object", method, path)
        return answer

    def _array(self, method: str, path: str, *, body: Any = None) -> list[dict[str, Any]]:
        answer = self.request(method, path, body=body)
        if not isinstance(answer, list):
            raise self._error(N8nNotN8n, "expected a JSON array", method, path)
        return answer


def _path(*segments: str) -> str:
    # Ids are quoted so an odd id cannot step into another endpoint.
    return "".join("/" + quote(str(s), safe="") for s in segments)


def _query(params: Mapping[str, Any] | None) -> dict[str, str]:
    """n8n's spelling of query values: booleans lower-case, None left out."""
    out = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _json_or_none(raw: bytes, content_type: str) -> Any:
    if "json" not in content_type.lower():
        return None
    try:
        # orjson: listings of hundreds of workflows decode several times faster.
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _execution(item: dict[str, Any]) -> dict[str, Any]:
    for field in _EXECUTION_ID_FIELDS:
        value = item.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            item[field] = str(value)
    return item


def _reason(exc: BaseException) -> str:
    """The useful part of a requests/urllib3 error, e.g. ``[Errno 111] Connection refused``."""
    match = _ERRNO.search(str(exc))
    return match.group(0).strip() if match else type(exc).__name__


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; the HTTP-date form is rare enough to ignore."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
