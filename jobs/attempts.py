"""One attempt at a job, as a worker runs it: the claim, and every later write under the
attempt's lease (the fence), each a single guarded statement.

A claim moves ``pending -> running`` with a fresh lease token; heartbeats, progress, the
final outcome and a hand-back all carry it, so an attempt that was paused or presumed dead
writes nothing once another attempt owns the job. Every attempt's outcome is appended to the
row's ``attempts`` history; the error columns describe the job's final state only (a job that
completes after a failed attempt shows no error).

These writes go through psycopg directly, on one autocommit connection per thread that serves
nothing else: each is one statement and one round trip, with no pool checkout, pre-ping,
BEGIN or COMMIT (most of what tracking a job costs). The tenant is a session setting on that
private connection, set again only when the next write is for another tenant.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import psycopg
import sqlalchemy.exc
from psycopg.types.json import Jsonb
from sqlalchemy import (
    Interval,
    Text,
    Uuid,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from models.db import CONNECT_ARGS, get_engine
from models.jobs import BackgroundJob

log = logging.getLogger(__name__)

#: Longest traceback kept on a job row, in characters.
MAX_TRACEBACK_CHARS = 20_000
#: Attempt outcomes kept in a job's history (hand-backs at shutdown add entries too).
MAX_HISTORY = 20
#: Errors that mean PostgreSQL is out of reach (down, restarting, the connection cut).
DATABASE_DOWN = (psycopg.OperationalError, sqlalchemy.exc.OperationalError)
#: Seconds before the first retry of a write that could not reach PostgreSQL; doubled each
#: time up to MAX_RETRY_DELAY_S.
FIRST_RETRY_DELAY_S = 0.1
MAX_RETRY_DELAY_S = 2.0

T = TypeVar("T")


class JobCancelled(Exception):
    """Raised at a checkpoint when an operator asked the job to stop."""


class LeaseLost(Exception):
    """Raised when this attempt's lease was taken over: another attempt owns the job now."""


class HandBack(Exception):
    """Raised at a checkpoint when the worker is shutting down and the job may run later."""


@dataclass
class Claim:
    job_id: uuid.UUID
    tenant_id: uuid.UUID
    job_type: str
    lease: uuid.UUID
    attempt: int
    max_attempts: int
    params: dict[str, Any]
    resource_type: str | None
    resource_id: uuid.UUID | None


def claim(job_id: uuid.UUID, tenant_id: uuid.UUID, *, message_id: str | None) -> Claim | None:
    """pending -> running with a fresh lease; None when the job is not ours to run."""
    lease = uuid.uuid4()
    row = _write(
        tenant_id, _CLAIM, {"job_id": job_id, "new_lease": lease, "claimed_message_id": message_id}
    ).fetchone()
    if row is None:
        return None
    return Claim(job_id, tenant_id, row[0], lease, *row[1:])


_CLAIM = (
    update(BackgroundJob)
    .where(BackgroundJob.id == bindparam("job_id"), BackgroundJob.status == "pending")
    .values(
        status="running",
        attempt=BackgroundJob.attempt + 1,
        lease_token=bindparam("new_lease"),
        heartbeat_at=func.now(),
        started_at=func.coalesce(BackgroundJob.started_at, func.now()),
        enqueued_at=func.coalesce(BackgroundJob.enqueued_at, func.now()),
        message_id=bindparam("claimed_message_id"),
    )
    .returning(
        BackgroundJob.job_type,
        BackgroundJob.attempt,
        BackgroundJob.max_attempts,
        BackgroundJob.params,
        BackgroundJob.resource_type,
        BackgroundJob.resource_id,
    )
)

#: Every write of an attempt: only while it still holds the lease and the job is running.
_FENCE = (
    BackgroundJob.id == bindparam("job_id"),
    BackgroundJob.lease_token == bindparam("lease"),
    BackgroundJob.status == "running",
)
_FENCED = update(BackgroundJob).where(*_FENCE)
#: The fence read, for the check before a side effect: it proves the lease as the moment's
#: heartbeat would, without a write and a commit to flush (the heartbeat thread keeps the
#: job's heartbeat).
_CHECK = select(BackgroundJob.cancel_requested_at).where(*_FENCE)
_ERROR_VALUES = {
    "error_class": bindparam("failure_class"),
    "error_message": bindparam("failure_message"),
    "error_traceback": bindparam("failure_traceback"),
}
_NO_ERROR = dict.fromkeys(_ERROR_VALUES)


_NEWEST_ENTRIES = literal_column(f"'$[last - {MAX_HISTORY - 1} to last]'::jsonpath")


def history_entry(outcome: str, *, error_class=None, error_message=None):
    """The SET expression appending this attempt's outcome to ``attempts`` (the newest
    MAX_HISTORY kept); values are SQL expressions or bound parameters."""
    entry = func.jsonb_build_object(
        "attempt",
        BackgroundJob.attempt,
        "outcome",
        cast(outcome, Text),
        "at",
        func.now(),
        "error_class",
        cast(error_class, Text),
        "error_message",
        cast(error_message, Text),
    )
    appended = BackgroundJob.attempts.op("||")(func.jsonb_build_array(entry))
    return func.jsonb_path_query_array(appended, _NEWEST_ENTRIES)


def _history(outcome: str, with_error: bool):
    if not with_error:
        return history_entry(outcome)
    return history_entry(
        outcome,
        error_class=bindparam("failure_class"),
        error_message=bindparam("failure_message"),
    )


@functools.cache
def _heartbeat_statement(with_progress: bool):
    values: dict[str, Any] = {"heartbeat_at": func.now()}
    if with_progress:
        values["progress"] = bindparam("new_progress")
    return _FENCED.values(**values).returning(BackgroundJob.cancel_requested_at)


@functools.cache
def _finish_statement(with_progress: bool, with_error: bool):
    values: dict[str, Any] = {
        "status": bindparam("new_status"),
        "finished_at": func.now(),
        "heartbeat_at": func.now(),
        "lease_token": None,
        "result": bindparam("new_result"),
        # The final state's error only: earlier attempts' errors live in the history.
        **(_ERROR_VALUES if with_error else _NO_ERROR),
        "attempts": _history(bindparam("new_status"), with_error),
    }
    if with_progress:
        values["progress"] = bindparam("new_progress")
    return _FENCED.values(**values)


@functools.cache
def _release_statement(with_error: bool):
    values: dict[str, Any] = {
        "status": "pending",
        "lease_token": None,
        "enqueued_at": None,
        "message_id": None,
        "not_before": func.now() + cast(bindparam("delay"), Interval),
    }
    if with_error:
        values.update(_ERROR_VALUES, attempts=_history("retry", True))
    else:
        # Handed back at shutdown: this attempt does not count.
        values.update(attempt=BackgroundJob.attempt - 1, attempts=_history("handed_back", False))
    return _FENCED.values(**values)


def check(claim_: Claim) -> bool:
    """Whether cancellation was requested, read under the fence.

    Raises LeaseLost when the fence no longer matches.
    """
    row = _write(claim_.tenant_id, _CHECK, _fence(claim_)).fetchone()
    if row is None:
        raise LeaseLost(str(claim_.job_id))
    return row[0] is not None


def heartbeat(claim_: Claim, progress: dict[str, Any] | None) -> bool:
    """Write progress (or just the heartbeat) under the fence; return cancel requested.

    Raises LeaseLost when the fence no longer matches.
    """
    params = _fence(claim_)
    if progress is not None:
        params["new_progress"] = progress
    statement = _heartbeat_statement(progress is not None)
    row = _write(claim_.tenant_id, statement, params).fetchone()
    if row is None:
        raise LeaseLost(str(claim_.job_id))
    return row[0] is not None


def finish(
    claim_: Claim,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: BaseException | None = None,
    progress: dict[str, Any] | None = None,
) -> bool:
    """running -> completed | failed | cancelled, under the fence; False if fenced out."""
    params = {**_fence(claim_), "new_status": status, "new_result": result}
    if progress is not None:
        params["new_progress"] = progress
    if error is not None:
        params.update(error_params(error))
    statement = _finish_statement(progress is not None, error is not None)
    return bool(_write(claim_.tenant_id, statement, params).rowcount)


def release(claim_: Claim, *, error: BaseException | None, delay: timedelta) -> bool:
    """running -> pending for a later attempt, not before ``delay`` from now; False if fenced
    out. The row records when the job is due: whoever sends its message (this process when
    the delay is over, else the clock's relay), nothing waits only in memory."""
    params = {**_fence(claim_), "delay": delay}
    if error is not None:
        params.update(error_params(error))
    return bool(_write(claim_.tenant_id, _release_statement(error is not None), params).rowcount)


def error_params(error: BaseException) -> dict[str, Any]:
    trace = "".join(traceback.format_exception(error))
    return {
        "failure_class": f"{type(error).__module__}.{type(error).__qualname__}",
        "failure_message": str(error)[:2000] or type(error).__name__,
        "failure_traceback": trace[-MAX_TRACEBACK_CHARS:],
    }


def _fence(claim_: Claim) -> dict[str, Any]:
    return {"job_id": claim_.job_id, "lease": claim_.lease}


#: Heartbeats of many running jobs of one tenant at once. Rows locked by a fenced
#: transaction are skipped (that transaction refreshed the heartbeat itself) rather than
#: waited for.
_BEAT_MANY = (
    update(BackgroundJob)
    .where(
        BackgroundJob.id.in_(
            select(BackgroundJob.id)
            .where(
                BackgroundJob.id == any_(bindparam("job_ids", type_=postgresql.ARRAY(Uuid))),
                BackgroundJob.lease_token
                == any_(bindparam("leases", type_=postgresql.ARRAY(Uuid))),
                BackgroundJob.status == "running",
            )
            .with_for_update(skip_locked=True)
        )
    )
    .values(heartbeat_at=func.now())
)


def beat(tenant_id: uuid.UUID, claims: list[Claim]) -> int:
    """Refresh the heartbeat of these running jobs of one tenant; returns how many held.

    Leases are random and unique per attempt, so matching ids and leases as two lists only
    ever matches a job with its own lease.
    """
    params = {"job_ids": [c.job_id for c in claims], "leases": [c.lease for c in claims]}
    return _write(tenant_id, _BEAT_MANY, params).rowcount


def persist(write: Callable[[], T], *, patience_s: float, stop: threading.Event | None = None) -> T:
    """Run a write, and run it again while PostgreSQL is out of reach (restarting, failing
    over), backing off, for up to ``patience_s`` or until ``stop`` is set; then re-raise.

    Every write here is guarded, so running one again after it did commit changes nothing.
    """
    deadline = time.monotonic() + patience_s
    delay = FIRST_RETRY_DELAY_S
    while True:
        try:
            return write()
        except DATABASE_DOWN as error:
            if time.monotonic() + delay > deadline or (stop is not None and stop.is_set()):
                raise
            if delay == FIRST_RETRY_DELAY_S:
                log.warning("PostgreSQL unreachable (%s); retrying for %.0f s", error, patience_s)
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_S)


# --- the private connection -----------------------------------------------------------------

_state = threading.local()
_SET_SESSION_TENANT = "SELECT set_config('app.tenant_id', %s, false)"


@functools.cache
def _compiled(statement) -> tuple[str, dict[str, Any]]:
    compiled = statement.compile(dialect=postgresql.psycopg.dialect())
    return compiled.string, dict(compiled.params)


def _connection(tenant_id: uuid.UUID) -> psycopg.Connection:
    engine = get_engine()
    state = _state.__dict__
    if state.get("engine") is not engine or state["connection"].closed:
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = psycopg.connect(url, autocommit=True, **CONNECT_ARGS)
        state.update(engine=engine, connection=connection, tenant=None)
    if state["tenant"] != tenant_id:
        state["connection"].execute(_SET_SESSION_TENANT, (str(tenant_id),))
        state["tenant"] = tenant_id
    return state["connection"]


def _write(tenant_id: uuid.UUID, statement, params: dict[str, Any]) -> psycopg.Cursor:
    """Run ``statement`` as ``tenant_id`` in a transaction of its own; on a broken
    connection, reconnect and try once more (every statement here is guarded, so a repeat
    of one that did commit changes nothing)."""
    sql, defaults = _compiled(statement)
    values = {**defaults}
    for name, value in params.items():
        values[name] = Jsonb(value) if isinstance(value, dict) else value
    try:
        return _connection(tenant_id).execute(sql, values)
    except psycopg.OperationalError:
        _drop_connection()
        return _connection(tenant_id).execute(sql, values)


def _drop_connection() -> None:
    state = _state.__dict__
    state.pop("engine", None)
    connection = state.pop("connection", None)
    if connection is not None:
        connection.close()
