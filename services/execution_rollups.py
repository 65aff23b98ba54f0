"""Hourly roll-ups of executions (execution_rollups): what analytics read for windows longer
than RAW_WINDOW_HOURS, so a 90-day window costs about what a day does.

Ingestion recomputes each hour it wrote to, from the executions of that hour, in the same
transaction (``refresh``): an hour's row is exact whatever order executions arrive or change
in. Durations are kept as a histogram (BUCKETS_PER_DOUBLING buckets per doubling of the
duration), so p50/p95 over roll-ups are within one bucket: about 9 % of the value.

    rollups.refresh(tenant_id, env_id, hours)           # after an ingestion write
    rollups.figures(env_id, since, by_workflow=False)   # rows shaped like the raw statement's
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import ColumnElement, func, text

from models.db import db

#: Analytics windows up to this many hours read executions; longer ones read roll-ups.
RAW_WINDOW_HOURS = 24
#: Histogram resolution: bucket b holds durations d (ms) with floor(8 * log2(d + 1)) = b.
BUCKETS_PER_DOUBLING = 8

#: Recomputing hours of one environment: their rows go (a workflow may have left an hour)...
_CLEAR = text(
    "DELETE FROM execution_rollups WHERE tenant_id = :tenant_id"
    " AND environment_id = :environment_id AND hour = ANY(:hours)"
)
#: ... and are aggregated again from the executions of those hours.
_REFRESH = text(
    f"""
    WITH rows AS (
        SELECT workflow_id, date_bin('1 hour', started_at, TIMESTAMPTZ 'epoch') AS hour,
               workflow_name, normalized_status, started_at, id, n8n_execution_id,
               error_message, error_node,
               floor({BUCKETS_PER_DOUBLING} * log(2, execution_time + 1))::int AS bucket
          FROM executions
         WHERE tenant_id = :tenant_id AND environment_id = :environment_id
           AND started_at >= :first AND started_at < :last + interval '1 hour'
           AND date_bin('1 hour', started_at, TIMESTAMPTZ 'epoch') = ANY(:hours)
    ), histograms AS (
        SELECT workflow_id, hour, jsonb_object_agg(bucket, n) AS durations
          FROM (SELECT workflow_id, hour, bucket, count(*) AS n FROM rows
                 WHERE bucket IS NOT NULL GROUP BY workflow_id, hour, bucket) AS counted
         GROUP BY workflow_id, hour
    ), failures AS (
        SELECT DISTINCT ON (workflow_id, hour) workflow_id, hour, started_at, id,
               n8n_execution_id, error_message, error_node
          FROM rows WHERE normalized_status = 'error'
         ORDER BY workflow_id, hour, started_at DESC, id DESC
    )
    INSERT INTO execution_rollups (
        tenant_id, environment_id, workflow_id, hour, workflow_name, total, success, error,
        running, waiting, durations, last_failure_at, last_failure_id, last_failure_n8n_id,
        last_failure_message, last_failure_node)
    SELECT :tenant_id, :environment_id, s.workflow_id, s.hour, s.workflow_name, s.total,
           s.success, s.error, s.running, s.waiting, coalesce(h.durations, '{{}}'::jsonb),
           f.started_at, f.id, f.n8n_execution_id, f.error_message, f.error_node
      FROM (SELECT workflow_id, hour, max(workflow_name) AS workflow_name, count(*) AS total,
                   count(*) FILTER (WHERE normalized_status = 'success') AS success,
                   count(*) FILTER (WHERE normalized_status = 'error') AS error,
                   count(*) FILTER (WHERE normalized_status = 'running') AS running,
                   count(*) FILTER (WHERE normalized_status = 'waiting') AS waiting
              FROM rows GROUP BY workflow_id, hour) AS s
      LEFT JOIN histograms h USING (workflow_id, hour)
      LEFT JOIN failures f USING (workflow_id, hour)
    """
)


def hour_of(moment: ColumnElement) -> ColumnElement:
    """The start of the UTC hour a timestamp falls in, as roll-ups key hours."""
    return func.date_bin(text("'1 hour'"), moment, text("TIMESTAMPTZ 'epoch'"))


def refresh(tenant_id: uuid.UUID, env_id: uuid.UUID, hours: Iterable[datetime | None]) -> None:
    """Recompute the roll-up rows of ``hours`` (hour starts) of an environment (no commit)."""
    wanted = sorted({hour for hour in hours if hour is not None})
    if not wanted:
        return
    params = {"tenant_id": tenant_id, "environment_id": env_id, "hours": wanted}
    db.execute(_CLEAR, params)
    db.execute(_REFRESH, {**params, "first": wanted[0], "last": wanted[-1]})


#: The newest failure among the window's hours, field by field.
_NEWEST_FAILURE = ", ".join(
    f"(array_agg(last_failure_{field} ORDER BY last_failure_at DESC NULLS LAST))[1]"
    f" AS failure_{field}"
    for field in ("at", "id", "n8n_id", "message", "node")
)


def _hours(workflow_filter: bool) -> str:
    """The window's roll-up rows of the environment (and of one workflow)."""
    narrowed = " AND workflow_id = :workflow_id" if workflow_filter else ""
    return (
        f"tenant_id = :tenant_id AND environment_id = :environment_id AND hour >= :since{narrowed}"
    )


def _window(by_workflow: bool, workflow_filter: bool) -> str:
    keys = "workflow_id, " if by_workflow else ""
    return f"""
        SELECT {keys}max(workflow_name) AS seen_name, sum(total)::int AS total,
               sum(success)::int AS success, sum(error)::int AS error,
               sum(running)::int AS running, sum(waiting)::int AS waiting,
               {_NEWEST_FAILURE}
          FROM execution_rollups WHERE {_hours(workflow_filter)}
         {"GROUP BY workflow_id" if by_workflow else ""}
    """


def _histograms(by_workflow: bool, workflow_filter: bool) -> str:
    keys = "workflow_id, " if by_workflow else ""
    return f"""
        SELECT {keys}bucket.key::int AS bucket, sum(bucket.value::int)::int AS n
          FROM execution_rollups, jsonb_each_text(durations) AS bucket
         WHERE {_hours(workflow_filter)}
         GROUP BY {keys}bucket.key
    """


def figures(
    tenant_id: uuid.UUID,
    env_id: uuid.UUID,
    since: datetime,
    *,
    workflow_id: str | None = None,
    by_workflow: bool = False,
) -> list[SimpleNamespace]:
    """Counts, percentiles and the newest failure from the hours since ``since``, per workflow
    or for all; rows with the attributes the raw analytics statement returns."""
    params = {
        "tenant_id": tenant_id,
        "environment_id": env_id,
        "since": since,
        "workflow_id": workflow_id,
    }
    narrowed = workflow_id is not None
    sums = db.execute(text(_window(by_workflow, narrowed)), params).all()
    buckets: dict[str | None, dict[int, int]] = {}
    for row in db.execute(text(_histograms(by_workflow, narrowed)), params):
        key = row.workflow_id if by_workflow else None
        buckets.setdefault(key, {})[row.bucket] = row.n
    rows = []
    for row in sums:
        if row.total is None:  # no hours in the window: the raw statement's empty row
            rows.append(_row(None, None, 0, (0, 0, 0, 0), histogram={}, failure=None))
            continue
        key = row.workflow_id if by_workflow else None
        counts = (row.success, row.error, row.running, row.waiting)
        rows.append(
            _row(
                key,
                row.seen_name,
                row.total,
                counts,
                histogram=buckets.get(key, {}),
                failure=row,
            )
        )
    return rows


def _row(workflow_id, name, total, counts, *, histogram, failure) -> SimpleNamespace:
    success, error, running, waiting = counts
    return SimpleNamespace(
        workflow_id=workflow_id,
        seen_name=name,
        workflow_name=name,
        total=total,
        success=success,
        error=error,
        running=running,
        waiting=waiting,
        p50_ms=percentile(histogram, 0.5),
        p95_ms=percentile(histogram, 0.95),
        **{
            f"failure_{field}": getattr(failure, f"failure_{field}", None)
            for field in ("at", "id", "n8n_id", "message", "node")
        },
    )


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """Durations (ms) bucket ``bucket`` holds: [low, high)."""
    return (
        2 ** (bucket / BUCKETS_PER_DOUBLING) - 1,
        2 ** ((bucket + 1) / BUCKETS_PER_DOUBLING) - 1,
    )


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """The ``fraction`` percentile of a histogram, interpolated inside its bucket (None when
    empty), as percentile_cont would place it among the durations."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = fraction * (total - 1)
    seen = 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        if rank < seen + count or seen + count == total:
            low, high = bucket_bounds(bucket)
            return low + (high - low) * min(1.0, (rank - seen + 0.5) / count)
        seen += count
    raise AssertionError("unreachable: the last bucket holds the highest rank")
