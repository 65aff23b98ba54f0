"""A fake n8n on 127.0.0.1 that speaks the public API as n8n-api.md and a real 1.123 do, with
seeding, a request log and fault injection, so tests can prove behaviour under each fault."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.fake_n8n.app import API, Routes
from tests.fake_n8n.paging import ApiError
from tests.fake_n8n.store import Store, render_credential, render_execution

#: Seconds between checks for shutdown in the serving thread; also the worst-case stop delay.
POLL_INTERVAL_S = 0.01
#: What n8n serves outside /api/v1: its editor page.
EDITOR_HTML = b"<!DOCTYPE html><html><head><title>n8n.io - Workflow Automation</title></html>"
JSON_TYPE = "application/json; charset=utf-8"


def sample_workflow(name: str = "Sample: Schedule + No Op") -> dict[str, Any]:
    """A small valid write body that can be activated (it has a trigger)."""
    return {
        "name": name,
        "nodes": [
            {
                "name": "Schedule Trigger",
                "type": "n8n-nodes-base.scheduleTrigger",
                "typeVersion": 1.2,
                "position": [0, 0],
                "parameters": {"rule": {"interval": [{"field": "hours", "hoursInterval": 1}]}},
            },
            {
                "name": "No Op",
                "type": "n8n-nodes-base.noOp",
                "typeVersion": 1,
                "position": [220, 0],
                "parameters": {},
            },
        ],
        "connections": {
            "Schedule Trigger": {"main": [[{"node": "No Op", "type": "main", "index": 0}]]}
        },
        "settings": {"executionOrder": "v1"},
    }


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def api_path(self) -> str:
        """The path below /api/v1, e.g. ``/workflows/abc``."""
        return self.path.removeprefix(API)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    """A canned answer for matching requests, ``times`` times (None: until cleared)."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    path: re.Pattern[str] | None = None
    times: int | None = 1
    chunked: bool = False

    def matches(self, request: Request) -> bool:
        if self.method and request.method != self.method:
            return False
        return self.path is None or bool(self.path.search(request.path))


class FakeN8n:
    """Start with ``with FakeN8n() as n8n:``; ``n8n.url`` is the instance root."""

    def __init__(
        self,
        *,
        version: str = "1.x",
        api_key: str = "fake-n8n-api-key",
        execution_ids_as_numbers: bool = False,
    ) -> None:
        if version not in ("1.x", "2.x"):
            raise ValueError(f"version must be '1.x' or '2.x', not {version!r}")
        self.version = version
        self.api_key = api_key
        self.store = Store()
        self.routes = Routes(
            self.store, version=version, execution_ids_as_numbers=execution_ids_as_numbers
        )
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._delays: list[tuple[re.Pattern[str] | None, float]] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # Lifecycle

    def __enter__(self) -> FakeN8n:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + API

    def start(self) -> None:
        """Listen on a free port the first time, on the same port afterwards."""
        self._server = make_server(
            "127.0.0.1", self.port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name=f"fake-n8n-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: new connections are refused (werkzeug keeps none alive)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread:
            self._thread.join()

    # "down" is a stop that keeps the data and the port, so the instance can come back.
    go_down = stop
    come_back = start

    # Seeding

    def add_workflow(
        self,
        body: dict[str, Any] | None = None,
        *,
        active: bool = False,
        tags: Iterable[str] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """Store a workflow as-is (no validation, so GET-only settings can be planted)."""
        body = {**(body or sample_workflow()), **fields}
        with self._lock:
            workflow = self.store.insert_workflow(body)
            workflow["tagIds"] = [self._tag_id(name) for name in tags]
            if active:
                self.store.set_active(workflow["id"], True, check=False)
            return self.store.render_workflow(workflow, full=True)

    def add_workflows(self, count: int, *, name_prefix: str = "Workflow") -> list[str]:
        """Many small workflows at once; returns their ids."""
        return [self.add_workflow(name=f"{name_prefix} {i:05d}")["id"] for i in range(count)]

    def add_tag(self, name: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.store.insert_tag(name))

    def _tag_id(self, name: str) -> str:
        existing = [t["id"] for t in self.store.tags.values() if t["name"] == name]
        return existing[0] if existing else self.store.insert_tag(name)["id"]

    def add_execution(
        self,
        workflow_id: str,
        *,
        status: str = "success",
        mode: str = "trigger",
        error_message: str | None = None,
        error_node: str | None = None,
        retry_of: str | None = None,
        wait_till: str | None = None,
        data: dict[str, Any] | None = None,
        started_at: str | None = None,
        stopped_at: str | None = None,
    ) -> dict[str, Any]:
        """An execution with the next numeric id; failed ones carry node and message in data.
        Its times are now unless given (ISO 8601, as n8n writes them)."""
        with self._lock:
            execution = self.store.insert_execution(
                workflow_id,
                status=status,
                mode=mode,
                error_message=error_message,
                error_node=error_node,
                retry_of=retry_of,
                wait_till=wait_till,
                data=data,
                started_at=started_at,
                stopped_at=stopped_at,
            )
            return render_execution(execution, include_data=True, detail=True)

    def finish_execution(
        self, execution_id: str, *, status: str = "success", **error: str | None
    ) -> dict[str, Any]:
        """An execution in flight stops with ``status`` (``error_message``, ``error_node``
        for a failure); from then on it is listed."""
        with self._lock:
            execution = self.store.finish_execution(execution_id, status=status, **error)
            return render_execution(execution, include_data=True, detail=True)

    def add_credential(
        self, name: str, cred_type: str = "httpHeaderAuth", data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            credential = self.store.insert_credential(name, cred_type, data or {})
            return render_credential(credential)

    # State

    def workflow(self, workflow_id: str) -> dict[str, Any] | None:
        """The workflow as GET answers it, or None once deleted."""
        with self._lock:
            stored = self.store.workflows.get(workflow_id)
            return self.store.render_workflow(stored, full=True) if stored else None

    def workflow_ids(self) -> set[str]:
        with self._lock:
            return set(self.store.workflows)

    def tag_names(self) -> set[str]:
        with self._lock:
            return {t["name"] for t in self.store.tags.values()}

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, *, method: str | None = None) -> list[RecordedRequest]:
        """Requests whose path below /api/v1 matches the regex ``path`` (anchored at both ends)."""
        pattern = re.compile(path)
        return [
            r
            for r in self.requests
            if pattern.fullmatch(r.api_path) and (method is None or r.method == method)
        ]

    def writes(self) -> list[RecordedRequest]:
        """Requests that could change state (anything but GET/HEAD)."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # Faults

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        body: Any = None,
        content_type: str = JSON_TYPE,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests, whatever they are, with ``status``."""
        self._add_fault(
            Fault(status, _body(status, body), content_type, dict(headers or {}), times=times)
        )

    def fail_path(
        self,
        path: str,
        status: int,
        *,
        method: str | None = None,
        times: int | None = None,
        body: Any = None,
        content_type: str = JSON_TYPE,
        headers: dict[str, str] | None = None,
        chunked: bool = False,
    ) -> None:
        """Answer requests whose full path matches the regex ``path`` (searched) with ``status``.

        ``body`` may be bytes (sent as-is) or JSON-able; ``chunked`` streams it without a
        Content-Length, so only a reader that counts bytes can cap it.
        """
        fault = Fault(
            status,
            _body(status, body),
            content_type,
            dict(headers or {}),
            method=method,
            path=re.compile(path),
            times=times,
            chunked=chunked,
        )
        self._add_fault(fault)

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def slow(self, seconds: float, *, path: str | None = None) -> None:
        """Delay every answer (or those whose path matches the regex) by ``seconds``."""
        with self._lock:
            self._delays.append((re.compile(path) if path else None, seconds))

    def truncate_workflow_listing(self, after_pages: int, *, status: int = 500) -> None:
        """Serve ``after_pages`` pages of GET /workflows, then fail every later page."""
        with self._lock:
            self.routes.truncate_workflows = (after_pages, status)

    def fail_activation(self, workflow_id: str, message: str) -> None:
        """Make activating this workflow a 400 with ``message`` (a bad trigger, say)."""
        with self._lock:
            self.store.activation_errors[workflow_id] = message

    def set_credential_test_result(self, credential_id: str, status: str, message: str) -> None:
        """What POST /credentials/{id}/test answers (2.x) for this credential."""
        with self._lock:
            self.store.credential_test_results[credential_id] = (status, message)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self.routes.truncate_workflows = None
            self.store.activation_errors.clear()

    # Serving

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        self._record(request)
        return self._respond(request)(environ, start_response)

    def _record(self, request: Request) -> None:
        entry = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.args),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.get_data(cache=True),
            at=time.monotonic(),
        )
        with self._lock:
            self._requests.append(entry)

    def _respond(self, request: Request) -> Response:
        with self._lock:
            fault = self._take_fault(request)
            delay = next((s for p, s in self._delays if not p or p.search(request.path)), 0.0)
        if delay:
            time.sleep(delay)  # outside the lock: other requests go on meanwhile
        if fault:
            return _fault_response(fault)
        if not request.path.startswith(API + "/"):
            return Response(EDITOR_HTML, 200, content_type="text/html; charset=utf-8")
        with self._lock:
            try:
                handler, args = self.routes.match(request)
                self._authorize(request)
                status, payload = handler(request, **args)
            except ApiError as error:
                status, payload = error.status, {"message": error.message}
        return Response(json.dumps(payload), status, content_type=JSON_TYPE)

    def _take_fault(self, request: Request) -> Fault | None:
        for fault in self._faults:
            if fault.matches(request):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _authorize(self, request: Request) -> None:
        key = request.headers.get("X-N8N-API-KEY")
        if key is None:
            raise ApiError(401, "'X-N8N-API-KEY' header required")
        if key != self.api_key:
            raise ApiError(401, "unauthorized")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass  # keep test output clean


def _fault_response(fault: Fault) -> Response:
    if not fault.chunked:
        return Response(fault.body, fault.status, fault.headers, content_type=fault.content_type)
    return Response(
        _chunks(fault.body), fault.status, fault.headers, content_type=fault.content_type
    )


def _chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _body(status: int, body: Any) -> bytes:
    """Bytes as given; JSON otherwise, by default n8n's ``{"message": <reason phrase>}``."""
    if isinstance(body, bytes):
        return body
    if body is None:
        try:
            body = {"message": HTTPStatus(status).phrase}
        except ValueError:
            body = {"message": "Error"}
    return json.dumps(body).encode()
