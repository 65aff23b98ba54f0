"""Executions: the reads over what ingestion (services/ingestion.py) stored: filtered keyset
pages, one execution, and analytics per environment and workflow."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, true
from sqlalchemy.dialects.postgresql import distinct_on

from models.db import current_tenant, db
from models.executions import Execution
from models.workflows import WorkflowEnvMap
from services import environments
from services import execution_rollups as rollups
from services.errors import InvalidInput
from services.rows import get_or_404


@dataclass(frozen=True)
class ExecutionFilters:
    environment_id: uuid.UUID | None = None
    workflow_id: str | None = None
    #: Normalized statuses; any of them matches.
    statuses: tuple[str, ...] = ()
    mode: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None


def get(execution_id: uuid.UUID) -> Execution:
    """One execution of the current tenant (row-level security hides any other)."""
    return get_or_404(Execution, execution_id, "No such execution.")


def list_page(
    filters: ExecutionFilters, *, cursor: str | None, limit: int
) -> tuple[list[Execution], str | None]:
    """One page of executions, newest first, after ``cursor``; and the next page's cursor.

    Keyset order: started_at descending (not yet started first), then id descending, so a
    page never repeats or skips a row, however many share a start time.
    """
    query = _filtered(filters).order_by(
        Execution.started_at.desc().nulls_first(), Execution.id.desc()
    )
    if cursor:
        query = query.where(_after(*decode_cursor(cursor)))
    items = list(db.scalars(query.limit(limit + 1)))
    if len(items) <= limit:
        return items, None
    last = items[limit - 1]
    return items[:limit], encode_cursor(last.started_at, last.id)


def _filtered(filters: ExecutionFilters) -> Select:
    query = select(Execution)
    conditions = (
        (filters.environment_id, lambda: Execution.environment_id == filters.environment_id),
        (filters.workflow_id, lambda: Execution.workflow_id == filters.workflow_id),
        (filters.statuses, lambda: Execution.normalized_status.in_(filters.statuses)),
        (filters.mode, lambda: Execution.mode == filters.mode),
        (filters.started_after, lambda: Execution.started_at >= filters.started_after),
        (filters.started_before, lambda: Execution.started_at < filters.started_before),
    )
    for value, condition in conditions:
        if value:
            query = query.where(condition())
    return query


def _after(started_at: datetime | None, execution_id: uuid.UUID):
    """Rows after (started_at, id) in the listing's order; NULL start times come first."""
    if started_at is None:
        return or_(
            Execution.started_at.is_not(None),
            and_(Execution.started_at.is_(None), Execution.id < execution_id),
        )
    # The first condition alone is a range on the started_at index.
    return and_(
        Execution.started_at <= started_at,
        or_(Execution.started_at < started_at, Execution.id < execution_id),
    )


def encode_cursor(started_at: datetime | None, execution_id: uuid.UUID) -> str:
    """An opaque position: base64url of [started_at ISO or null, id]."""
    position = [started_at.isoformat() if started_at else None, str(execution_id)]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | None, uuid.UUID]:
    try:
        started_at, execution_id = json.loads(
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        )
        return (
            datetime.fromisoformat(started_at) if started_at is not None else None,
            uuid.UUID(execution_id),
        )
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidInput(
            "The cursor is not valid; start again without one.", code="invalid_cursor"
        ) from exc


def analytics(
    env_id: uuid.UUID, *, window_hours: int, workflow_id: str | None = None
) -> dict[str, Any]:
    """Counts, error rate, p50/p95 duration and last failure over the last hours, for the
    environment or one of its workflows: exact over one hour; over more, counts and the last
    failure exact, percentiles within a histogram bucket (about 9 %) of the exact ones."""
    since = _window_start(env_id, window_hours)
    if window_hours > rollups.RAW_WINDOW_HOURS:
        (row,) = rollups.figures(current_tenant(), env_id, since, workflow_id=workflow_id)
    else:
        row = db.execute(_stats(env_id, since, workflow_id=workflow_id, by_workflow=False)).one()
    return {
        "environment_id": env_id,
        "workflow_id": workflow_id,
        "window_hours": window_hours,
        "since": since,
        **_figures(row),
    }


def workflow_analytics(env_id: uuid.UUID, *, window_hours: int) -> list[dict[str, Any]]:
    """The same figures per workflow of the environment, most failures first."""
    since = _window_start(env_id, window_hours)
    if window_hours > rollups.RAW_WINDOW_HOURS:
        rows = _named(env_id, rollups.figures(current_tenant(), env_id, since, by_workflow=True))
    else:
        rows = db.execute(_stats(env_id, since, workflow_id=None, by_workflow=True)).all()
    return [
        {"workflow_id": row.workflow_id, "workflow_name": row.workflow_name, **_figures(row)}
        for row in rows
    ]


def _named(env_id: uuid.UUID, rows: list) -> list:
    """Roll-up rows per workflow, named from the workflow map as the raw statement names
    them, most failures first."""
    names = dict(
        db.execute(
            select(WorkflowEnvMap.n8n_workflow_id, WorkflowEnvMap.workflow_name).where(
                WorkflowEnvMap.environment_id == env_id,
                WorkflowEnvMap.n8n_workflow_id.in_([row.workflow_id for row in rows]),
            )
        ).all()
    )
    for row in rows:
        row.workflow_name = names.get(row.workflow_id) or row.seen_name
    return sorted(rows, key=lambda row: (-row.error, -row.total, row.workflow_id))


def _window_start(env_id: uuid.UUID, window_hours: int) -> datetime:
    environments.get(env_id)  # another tenant's or an unknown environment is a 404
    return datetime.now(UTC) - timedelta(hours=window_hours)


def _stats(env_id: uuid.UUID, since: datetime, *, workflow_id: str | None, by_workflow: bool):
    """One statement: aggregates over the window (on the (tenant, environment, started_at)
    index) joined to the newest failure, per workflow or for all."""
    conditions = [Execution.environment_id == env_id, Execution.started_at >= since]
    if workflow_id is not None:
        conditions.append(Execution.workflow_id == workflow_id)
    window = (
        select(
            Execution.id,
            Execution.n8n_execution_id,
            Execution.workflow_id,
            Execution.workflow_name,
            Execution.normalized_status,
            Execution.started_at,
            Execution.execution_time,
            Execution.error_message,
            Execution.error_node,
        )
        .where(*conditions)
        .cte("in_window")
    )
    keys = [window.c.workflow_id] if by_workflow else []
    status = window.c.normalized_status
    duration = window.c.execution_time

    def count(name: str):
        return func.count().filter(status == name).label(name)

    def percentile(fraction: float, label: str):
        ordered = func.percentile_cont(fraction).within_group(duration)
        return ordered.filter(duration.is_not(None)).label(label)

    stats = (
        select(
            *keys,
            func.max(window.c.workflow_name).label("seen_name"),
            func.count().label("total"),
            *(count(name) for name in ("success", "error", "running", "waiting")),
            percentile(0.5, "p50_ms"),
            percentile(0.95, "p95_ms"),
        )
        .group_by(*keys)
        .cte("stats")
    )
    last_failure = (
        select(
            *keys,
            window.c.id.label("failure_id"),
            window.c.n8n_execution_id.label("failure_n8n_id"),
            window.c.started_at.label("failure_at"),
            window.c.error_message.label("failure_message"),
            window.c.error_node.label("failure_node"),
        )
        .where(status == "error")
        .order_by(*keys, window.c.started_at.desc(), window.c.id.desc())
    )
    last_failure = (
        last_failure.ext(distinct_on(*keys)) if by_workflow else last_failure.limit(1)
    ).cte("last_failure")
    joined = and_(*(stats.c[k.name] == last_failure.c[k.name] for k in keys)) if keys else true()
    columns = [
        stats,
        last_failure.c.failure_id,
        last_failure.c.failure_n8n_id,
        last_failure.c.failure_at,
        last_failure.c.failure_message,
        last_failure.c.failure_node,
    ]
    source = stats.outerjoin(last_failure, joined)
    if by_workflow:
        names = WorkflowEnvMap.__table__.c
        source = source.outerjoin(
            WorkflowEnvMap.__table__,
            and_(
                names.environment_id == env_id,
                names.n8n_workflow_id == stats.c.workflow_id,
            ),
        )
        columns.append(func.coalesce(names.workflow_name, stats.c.seen_name).label("workflow_name"))
        order = (stats.c.error.desc(), stats.c.total.desc(), stats.c.workflow_id)
    else:
        order = ()
    return select(*columns).select_from(source).order_by(*order)


def _figures(row) -> dict[str, Any]:
    finished = row.success + row.error
    return {
        "counts": {
            "total": row.total,
            "success": row.success,
            "error": row.error,
            "running": row.running,
            "waiting": row.waiting,
        },
        # Unfinished executions have no outcome yet: only finished ones are the denominator.
        "error_rate": row.error / finished if finished else None,
        "duration_ms": {"p50": row.p50_ms, "p95": row.p95_ms},
        "last_failure": (
            {
                "id": row.failure_id,
                "n8n_execution_id": row.failure_n8n_id,
                "started_at": row.failure_at,
                "error_message": row.failure_message,
                "error_node": row.failure_node,
            }
            if row.failure_id
            else None
        ),
    }
