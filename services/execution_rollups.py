"""Roll-ups of executions per workflow and hour (execution_rollups), UTC day
(execution_daily_rollups) and week (execution_weekly_rollups): what analytics read for windows
longer than RAW_WINDOW_HOURS, so a 90-day window costs about what a day does. A window reads
the executions of its first, partial hour (the edge: counts and failures stay exact for any
start), whole hours up to its first midnight from the hourly rows, whole days up to its first
week from the daily ones, and whole weeks from the weekly ones; each environment's span is
also summed in one row of its own (ENVIRONMENT_WIDE), what an environment-wide window reads.

Ingestion keeps every level exact as executions arrive, change and vanish
(services/rollup_maintenance.py). Durations are kept as a histogram (BUCKETS_PER_DOUBLING
buckets per doubling of the duration), so p50/p95 over roll-ups are within one bucket: about
9 % of the value.

    rollups.figures(tenant_id, env_id, since, by_workflow=False)  # rows like the raw statement's
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import text

from models.db import db

#: Analytics windows up to this many hours read executions (exact percentiles); longer ones
#: read roll-ups and their first partial hour's executions.
RAW_WINDOW_HOURS = 1
#: The workflow_id of the rows that sum the whole environment's hour or day: an environment's
#: window reads one row a span instead of one per workflow and span (n8n ids are never empty).
ENVIRONMENT_WIDE = ""
#: The spans of the three levels, finest first; each is a whole number of the one before, all
#: counted from the epoch (date_bin's origin in SQL).
HOUR, DAY, WEEK = timedelta(hours=1), timedelta(days=1), timedelta(weeks=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Histogram resolution: bucket b holds durations d (ms) with floor(8 * log2(d + 1)) = b.
BUCKETS_PER_DOUBLING = 8


def _bucket_starts() -> list[int]:
    """The shortest duration of each bucket from 1 up to int4's longest: the least d with
    (d + 1) ** BUCKETS_PER_DOUBLING >= 2 ** b, in integers, so no rounding decides a bucket."""
    starts = []
    for bucket in range(1, 31 * BUCKETS_PER_DOUBLING + 1):
        n = max(1, round(2 ** (bucket / BUCKETS_PER_DOUBLING)))
        while n**BUCKETS_PER_DOUBLING < 2**bucket:
            n += 1
        while n > 1 and (n - 1) ** BUCKETS_PER_DOUBLING >= 2**bucket:
            n -= 1
        starts.append(n - 1)
    return starts


#: A duration's bucket in SQL: how many buckets start at or below it (a binary search, where
#: floor(8 * log(2, d + 1)) in numeric costs a tenth of a millisecond a row).
BUCKET_SQL = f"width_bucket(execution_time, ARRAY[{', '.join(map(str, _bucket_starts()))}])"

_FAILURE_FIELDS = ("at", "id", "n8n_id", "message", "node")
_STATUSES = ("success", "error", "running", "waiting")
#: The newest failure among the window's spans, field by field.
_NEWEST_FAILURE = ", ".join(
    f"(array_agg(last_failure_{field} ORDER BY last_failure_at DESC NULLS LAST,"
    f" last_failure_id DESC))[1] AS failure_{field}"
    for field in _FAILURE_FIELDS
)


#: An execution of the edge as a span of its own: its counts, its bucket and, failed, itself
#: as the newest failure.
_EDGE_COLUMNS = ", ".join(
    [
        "workflow_id, workflow_name, 1",
        *(f"(normalized_status = '{status}')::int" for status in _STATUSES),
        f"CASE WHEN execution_time IS NULL THEN '{{}}'::jsonb"
        f" ELSE jsonb_build_object({BUCKET_SQL}, 1) END",
        *(
            f"CASE WHEN normalized_status = 'error' THEN {column} END"
            for column in ("started_at", "id", "n8n_execution_id", "error_message", "error_node")
        ),
    ]
)


def _spans(by_workflow: bool, workflow_filter: bool) -> str:
    """The window's spans in the environment (and of one workflow): executions from
    ``since`` to ``hours_from``, hours up to ``days_from``, days up to ``weeks_from``, whole
    weeks from it on; the environment's own rows when it is read as one, its workflows'
    otherwise."""
    narrowed = " AND workflow_id = :workflow_id" if workflow_filter else ""
    rolled = narrowed or (f" AND workflow_id {'<>' if by_workflow else '='} '{ENVIRONMENT_WIDE}'")
    owner = "tenant_id = :tenant_id AND environment_id = :environment_id"
    columns = (
        "workflow_id, workflow_name, total, success, error, running, waiting, durations, "
        + ", ".join(f"last_failure_{field}" for field in _FAILURE_FIELDS)
    )
    return f"""
        WITH spans ({columns}) AS (
            SELECT {_EDGE_COLUMNS} FROM executions
             WHERE {owner} AND started_at >= :since AND started_at < :hours_from{narrowed}
            UNION ALL
            SELECT {columns} FROM execution_rollups
             WHERE {owner} AND hour >= :hours_from AND hour < :days_from{rolled}
            UNION ALL
            SELECT {columns} FROM execution_daily_rollups
             WHERE {owner} AND day >= :days_from AND day < :weeks_from{rolled}
            UNION ALL
            SELECT {columns} FROM execution_weekly_rollups
             WHERE {owner} AND week >= :weeks_from{rolled}
        )"""


def _statement(by_workflow: bool, workflow_filter: bool) -> str:
    """Sums, newest failure and merged histogram of the window's spans, per workflow or for
    all, in one statement: the spans are read once."""
    keys = "workflow_id, " if by_workflow else ""
    return f"""{_spans(by_workflow, workflow_filter)}, sums AS (
            SELECT {keys}max(workflow_name) AS seen_name, sum(total)::int AS total,
                   sum(success)::int AS success, sum(error)::int AS error,
                   sum(running)::int AS running, sum(waiting)::int AS waiting,
                   {_NEWEST_FAILURE}
              FROM spans
             {"GROUP BY workflow_id" if by_workflow else ""}
        ), histograms AS (
            SELECT {keys}jsonb_object_agg(bucket, n) AS histogram
              FROM (SELECT {keys}bucket.key AS bucket, sum(bucket.value::int) AS n
                      FROM spans, jsonb_each_text(durations) AS bucket
                     GROUP BY {keys}bucket.key) AS merged
             {"GROUP BY workflow_id" if by_workflow else ""}
        )
        SELECT sums.*, histograms.histogram FROM sums
          LEFT JOIN histograms {"USING (workflow_id)" if by_workflow else "ON true"}
    """


def first_boundary(moment: datetime, span: timedelta) -> datetime:
    """The first start of a ``span`` (HOUR, DAY or WEEK, counted from the epoch) at or after
    ``moment`` (an aware datetime)."""
    return _EPOCH - (_EPOCH - moment) // span * span


def figures(
    tenant_id: uuid.UUID,
    env_id: uuid.UUID,
    since: datetime,
    *,
    workflow_id: str | None = None,
    by_workflow: bool = False,
    days_from: datetime | None = None,
    weeks_from: datetime | None = None,
) -> list[SimpleNamespace]:
    """Counts, percentiles and the newest failure since ``since``, per workflow or for all;
    rows with the attributes the raw analytics statement returns. Executions before the
    first whole hour are read themselves, hours from the hourly rows; spans from ``days_from``
    (a UTC midnight; by default the first one at or after ``since``) from daily rows, and
    from ``weeks_from`` (by default the first week's start at or after ``days_from``) from
    weekly ones, which sum the same hours."""
    days_from = days_from or first_boundary(since, DAY)
    params = {
        "tenant_id": tenant_id,
        "environment_id": env_id,
        "since": since,
        "hours_from": first_boundary(since, HOUR),
        "days_from": days_from,
        "weeks_from": weeks_from or first_boundary(days_from, WEEK),
        "workflow_id": workflow_id,
    }
    statement = text(_statement(by_workflow, workflow_id is not None))
    rows = []
    for row in db.execute(statement, params):
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
                histogram={int(bucket): n for bucket, n in (row.histogram or {}).items()},
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
            for field in _FAILURE_FIELDS
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
