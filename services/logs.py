"""Logs of every process (web, worker, clock): one JSON object per line on stderr, with the
request id, tenant id, job id and job type of the work the line belongs to, where it has them.

    {"time": "...", "level": "INFO", "logger": "jobs.maintenance", "message": "...",
     "process": "clock", "pid": 4242, "tenant_id": "...", "job_id": "...", "job_type": "sync"}

gunicorn's own error and access logs use the same format (``GunicornLogger``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from gunicorn import glogging
from pythonjsonlogger.orjson import OrjsonFormatter

#: The job this thread runs: {"job_id", "job_type", "tenant_id"} (jobs/telemetry.py sets it).
current_job: ContextVar[dict[str, str] | None] = ContextVar("current_job", default=None)

_request_id: Callable[[], str | None] = lambda: None  # noqa: E731 - replaced by the web process

#: Log formats LOG_FORMAT accepts.
FORMATS = ("json", "text")
_TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process_name)s] %(name)s: %(message)s"


#: PostgreSQL's DETAIL line quotes row values (a duplicate key, a failing row): SQLAlchemy's
#: hide_parameters keeps the statement's parameters out, this keeps the server's echo out.
_DATABASE_DETAIL = re.compile(r"^DETAIL:.*$", re.MULTILINE)
_WITHHELD = "DETAIL: (withheld from logs: it quotes row values)"


def redact(text: str) -> str:
    """``text`` without the database's quotes of row values."""
    return _DATABASE_DETAIL.sub(_WITHHELD, text)


class _Redacting:
    """A formatter whose exception texts pass through redact()."""

    def formatException(self, ei) -> str:
        return redact(super().formatException(ei))


class _JsonFormatter(_Redacting, OrjsonFormatter):
    pass


class _TextFormatter(_Redacting, logging.Formatter):
    pass


def use_request_id(accessor: Callable[[], str | None]) -> None:
    """Where the current request's id comes from (the web process registers its accessor)."""
    global _request_id  # noqa: PLW0603 - one accessor per process, set at start
    _request_id = accessor


class ContextFilter(logging.Filter):
    """Adds the process kind and what the current thread works on to every record."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = self.process
        record.pid = os.getpid()
        job = current_job.get()
        if job:
            record.__dict__.update(job)
        # Never imported from here: gunicorn's master logs through this filter before a gevent
        # worker patches threading, and models.db's session registry must be created after.
        # Until something imports it, no tenant can have been set.
        tenant_context = sys.modules.get("models.db")
        tenant = tenant_context.current_tenant() if tenant_context else None
        if tenant is not None:
            record.tenant_id = str(tenant)
        request_id = _request_id()
        if request_id:
            record.request_id = request_id
        message = record.getMessage()
        if "DETAIL:" in message:
            record.msg, record.args = redact(message), ()
        return True


def json_formatter() -> logging.Formatter:
    return _JsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger", "process_name": "process"},
        timestamp="time",
    )


def _formatter(fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT is one of {', '.join(FORMATS)}, not {fmt!r}")
    return json_formatter() if fmt == "json" else _TextFormatter(_TEXT_FORMAT)


def configure(level: str, *, process: str, fmt: str = "json", stream: Any = None) -> None:
    """Send every log record of this process to ``stream`` (stderr) in ``fmt``, replacing the
    root logger's other handlers (Dramatiq's worker pipe among them)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter(fmt))
    handler.addFilter(ContextFilter(process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class GunicornLogger(glogging.Logger):
    """gunicorn's error and access logs in the app's JSON format; an access line carries the
    request id, tenant and route the app left in the WSGI environ (web/observability.py)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        fmt = os.environ.get("LOG_FORMAT", "json")
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(_formatter(fmt))
                handler.addFilter(ContextFilter("web"))

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        status = str(resp.status).split(" ", 1)[0]
        fields = {
            "method": req.method,
            "path": req.path,
            "status": int(status) if status.isdigit() else status,
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "bytes": getattr(resp, "sent", None),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        for key in ("request_id", "tenant_id", "route"):
            value = environ.get(f"n8nops.{key}")
            if value:
                fields[key] = value
        self.access_log.info(
            "%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields
        )
