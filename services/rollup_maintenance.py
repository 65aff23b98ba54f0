"""Keeping the roll-ups (execution_rollups per hour, execution_daily_rollups per UTC day,
execution_weekly_rollups per week) equal to the executions they sum, by differences: each
statement that writes executions also adds what it changed to every level, in the same
statement.

A writer's statement names what it changed in a CTE ``changes`` (``sign``, then CHANGED_COLUMNS):
+1 rows with the new values of the rows it wrote, -1 rows with the old values of the rows it
replaced or deleted. ``delta_ctes()`` adds those to the counts and to the histograms' buckets
(only the buckets a change touches; emptied ones are dropped), and offers new failures as each
span's newest.
Two things a difference cannot say: which failure is newest once the newest one is gone, and
the greatest workflow name once a row carrying it left; nor may a span left empty stay. The
statement's ``stale`` CTE names the (workflow, day) of those cases (rare: deletions, moves,
renames, a change to a span's newest failure) and ``repair`` recomputes them from executions
(and their weeks from the days).

Concurrent writers of the same rows take no lock: additions commute, and a writer that finds a
row changed by another after its snapshot (so its old values unknown) names that row's days
stale instead of guessing (services/ingestion.py's ``raced``).

    rows = db.execute(text(f"WITH ..., changes AS (...), {delta_ctes()} SELECT ..."))
    repair(tenant_id, env_id, workflows, days)     # the stale (workflow, day) pairs
    rebuild(tenant_id, env_id)                     # everything from executions (repair, tests)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

from models.db import db
from services.execution_rollups import BUCKET_SQL, DAY, ENVIRONMENT_WIDE, HOUR, WEEK

#: What the ``changes`` CTE carries after ``sign``, as executions name the columns.
CHANGED_COLUMNS = (
    "id, n8n_execution_id, workflow_id, workflow_name, normalized_status, started_at, "
    "execution_time, error_message, error_node"
)


@dataclass(frozen=True)
class Level:
    name: str
    table: str
    #: The span column and its width (the read path's, services/execution_rollups.py).
    key: str
    width: timedelta
    #: The finer level whose grouped changes this one groups again (a few rows, where the
    #: page's changes are thousands); the first level groups ``changes``.
    finer: str | None = None
    #: Per workflow, or the environment as one.
    per_workflow: bool = True


LEVELS = (
    Level("hours", "execution_rollups", "hour", HOUR),
    Level("days", "execution_daily_rollups", "day", DAY, finer="hours"),
    Level("environment_hours", "execution_rollups", "hour", HOUR, "hours", False),
    Level("environment_days", "execution_daily_rollups", "day", DAY, "days", False),
    Level("weeks", "execution_weekly_rollups", "week", WEEK, finer="days"),
    Level("environment_weeks", "execution_weekly_rollups", "week", WEEK, "weeks", False),
)

_FIGURES = (
    "workflow_name, total, success, error, running, waiting, durations, last_failure_at, "
    "last_failure_id, last_failure_n8n_id, last_failure_message, last_failure_node"
)
#: The tenant and environment of the rows a statement writes.
_OWNER = "CAST(:tenant_id AS uuid), CAST(:environment_id AS uuid)"
_FAILURE_FIELDS = ("at", "id", "n8n_id", "message", "node")
_STATUSES = ("success", "error", "running", "waiting")


def _interval(width: timedelta) -> str:
    """``width`` as the text of an SQL interval."""
    return f"{width // timedelta(seconds=1)} seconds"


def _span(width: timedelta, column: str = "started_at") -> str:
    return f"date_bin('{_interval(width)}', {column}, TIMESTAMPTZ 'epoch')"


def _grouped_changes(level: Level) -> str:
    """CTEs ``{name}_counts``, ``_buckets`` (non-zero ones) and ``_failures`` (the newest
    added per span): the page's changes per workflow and span."""
    name, span = level.name, _span(level.width)
    counts = ", ".join(
        f"sum(CASE WHEN normalized_status = '{status}' THEN sign ELSE 0 END)::int AS {status}"
        for status in _STATUSES
    )
    return f"""
    {name}_counts AS (
        SELECT workflow_id, {span} AS span,
               max(workflow_name) FILTER (WHERE sign = 1) AS workflow_name,
               sum(sign)::int AS total, {counts}
          FROM changes WHERE started_at IS NOT NULL
         GROUP BY 1, 2
    ), {name}_buckets AS (
        SELECT workflow_id, {span} AS span, {BUCKET_SQL} AS bucket, sum(sign)::int AS n
          FROM changes WHERE started_at IS NOT NULL AND execution_time IS NOT NULL
         GROUP BY 1, 2, 3 HAVING sum(sign) <> 0
    ), {name}_failures AS (
        SELECT DISTINCT ON (workflow_id, span) workflow_id, {span} AS span,
               started_at, id, n8n_execution_id, error_message, error_node
          FROM changes
         WHERE sign = 1 AND normalized_status = 'error' AND started_at IS NOT NULL
         ORDER BY workflow_id, span, started_at DESC, id DESC
    ),"""


def _regrouped(level: Level) -> str:
    """The same three CTEs from the finer level's: its spans' sums within this level's
    (and under the environment's one workflow_id when it sums the environment)."""
    name, finer, span = level.name, level.finer, _span(level.width, "span")
    workflow = "workflow_id" if level.per_workflow else f"'{ENVIRONMENT_WIDE}'::text"
    counts = ", ".join(f"sum({status})::int AS {status}" for status in _STATUSES)
    return f"""
    {name}_counts AS (
        SELECT {workflow} AS workflow_id, {span} AS span, max(workflow_name) AS workflow_name,
               sum(total)::int AS total, {counts}
          FROM {finer}_counts GROUP BY 1, 2
    ), {name}_buckets AS (
        SELECT {workflow} AS workflow_id, {span} AS span, bucket, sum(n)::int AS n
          FROM {finer}_buckets GROUP BY 1, 2, 3 HAVING sum(n) <> 0
    ), {name}_failures AS (
        SELECT DISTINCT ON (1, 2) {workflow} AS workflow_id, {span} AS span,
               started_at, id, n8n_execution_id, error_message, error_node
          FROM {finer}_failures
         ORDER BY 1, 2, started_at DESC, id DESC
    ),"""


def _apply(level: Level) -> str:
    """CTEs adding ``changes`` to one level's rows."""
    name, table, key = level.name, level.table, level.key
    # A span's newest failure: replaced by a newer one; a stale one is repaired afterwards.
    newer = (
        "EXCLUDED.last_failure_id IS NOT NULL AND (r.last_failure_id IS NULL OR "
        "(EXCLUDED.last_failure_at, EXCLUDED.last_failure_id)"
        " > (r.last_failure_at, r.last_failure_id))"
    )
    failure = ", ".join(
        f"last_failure_{field} = CASE WHEN {newer} THEN EXCLUDED.last_failure_{field}"
        f" ELSE r.last_failure_{field} END"
        for field in _FAILURE_FIELDS
    )
    added = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in ("total", *_STATUSES))
    grouped = _regrouped(level) if level.finer else _grouped_changes(level)
    return f"""{grouped} {name}_histograms AS (
        SELECT workflow_id, span, jsonb_object_agg(bucket, n) AS durations
          FROM {name}_buckets GROUP BY workflow_id, span
    ), {name}_applied AS (
        INSERT INTO {table} AS r (tenant_id, environment_id, workflow_id, {key}, {_FIGURES})
        SELECT {_OWNER}, c.workflow_id, c.span,
               c.workflow_name, c.total, c.success, c.error, c.running, c.waiting,
               coalesce(h.durations, '{{}}'::jsonb), f.started_at, f.id, f.n8n_execution_id,
               f.error_message, f.error_node
          FROM {name}_counts c
          LEFT JOIN {name}_histograms h USING (workflow_id, span)
          LEFT JOIN {name}_failures f USING (workflow_id, span)
        ON CONFLICT (tenant_id, environment_id, {key}, workflow_id) DO UPDATE SET
            workflow_name = greatest(r.workflow_name, EXCLUDED.workflow_name), {added},
            durations = CASE WHEN EXCLUDED.durations = '{{}}'::jsonb THEN r.durations ELSE (
                SELECT (r.durations || jsonb_object_agg(bucket, n))
                       - coalesce(array_agg(bucket) FILTER (WHERE n = 0), '{{}}')
                  FROM (SELECT key AS bucket, coalesce((r.durations ->> key)::int, 0)
                               + value::int AS n
                          FROM jsonb_each_text(EXCLUDED.durations)) AS added) END,
            {failure}
    )"""


def _stale(also: str | None) -> str:
    """(workflow, day) pairs whose names, newest failure or emptiness a difference cannot
    settle: a replaced row that was its hour's newest failure, or that left its hour or its
    name behind (deleted, moved, renamed); read in the snapshot before this statement's
    writes. And the days of ``also``'s rows."""
    extra = (
        f"\n        UNION SELECT workflow_id, {_span(DAY)} FROM {also} WHERE started_at IS NOT NULL"
        if also
        else ""
    )
    return f"""
    stale AS (
        SELECT DISTINCT gone.workflow_id, {_span(DAY, "gone.started_at")} AS day
          FROM changes gone
          LEFT JOIN execution_rollups r
            ON r.tenant_id = CAST(:tenant_id AS uuid)
           AND r.environment_id = CAST(:environment_id AS uuid)
           AND r.workflow_id = gone.workflow_id AND r.hour = {_span(HOUR, "gone.started_at")}
         WHERE gone.sign = -1 AND gone.started_at IS NOT NULL
           AND (r.last_failure_id = gone.id OR NOT EXISTS (
                SELECT FROM changes kept
                 WHERE kept.sign = 1 AND kept.id = gone.id
                   AND kept.workflow_id = gone.workflow_id
                   AND {_span(HOUR, "kept.started_at")} = {_span(HOUR, "gone.started_at")}
                   AND kept.workflow_name IS NOT DISTINCT FROM gone.workflow_name)){extra}
    )"""


def delta_ctes(*, also_stale: str | None = None) -> str:
    """The CTEs (after the writer's ``changes``) that apply it to every level, and ``stale``;
    ``also_stale`` names a CTE of (workflow_id, started_at) rows whose days are stale too."""
    return ",".join([*(_apply(level) for level in LEVELS), _stale(also_stale)])


#: The writer's statement's answer about stale pairs, for ``repair``.
STALE_ARRAYS = (
    "(SELECT array_agg(workflow_id ORDER BY workflow_id, day) FROM stale) AS stale_workflows, "
    "(SELECT array_agg(day ORDER BY workflow_id, day) FROM stale) AS stale_days"
)


def repair(
    tenant_id: uuid.UUID,
    env_id: uuid.UUID,
    workflows: Sequence[str] | None,
    days: Sequence[datetime] | None,
) -> None:
    """Recompute the stale (workflow, day) pairs a writer's statement named (no commit)."""
    if workflows:
        _recompute(tenant_id, env_id, (list(workflows), list(days or ())))


def rebuild(tenant_id: uuid.UUID, env_id: uuid.UUID) -> None:
    """Recompute every roll-up of the environment from its executions (no commit): for tests,
    repairs and benchmarks loading executions directly."""
    _recompute(tenant_id, env_id, None)


def _scope(span: str, pairs: bool) -> str:
    if not pairs:
        return ""
    return (
        f" AND ({_span(DAY, span)}, workflow_id) IN"
        " (SELECT * FROM unnest(CAST(:days AS timestamptz[]), CAST(:workflows AS text[])))"
    )


_CLEAR = """
    WITH hours AS (DELETE FROM execution_rollups WHERE {where}{hours}),
         days AS (DELETE FROM execution_daily_rollups WHERE {where}{days}),
         weeks AS (DELETE FROM execution_weekly_rollups WHERE {where}{weeks}){environment}
    SELECT 1
"""
_WEEK_OF_DAY = _span(WEEK, "day")
#: The (week, workflow) pairs of the pairs' days, and the environment's row of each week.
_PAIRS_WEEKS = f"""
    SELECT {_WEEK_OF_DAY}, workflow
      FROM unnest(CAST(:days AS timestamptz[]), CAST(:workflows AS text[])) AS p(day, workflow)
    UNION SELECT {_WEEK_OF_DAY}, '{ENVIRONMENT_WIDE}'
      FROM unnest(CAST(:days AS timestamptz[])) AS day"""
#: The hours of the pairs' days.
_PAIRS_HOURS = (
    "SELECT generate_series(day, day + interval '23 hours', interval '1 hour')"
    " FROM unnest(CAST(:days AS timestamptz[])) AS day"
)
#: The environment's rows of the pairs' days (a whole recompute clears them with the rest).
_CLEAR_ENVIRONMENT = f""",
         environment_hours AS (
            DELETE FROM execution_rollups
             WHERE {{where}} AND workflow_id = '{ENVIRONMENT_WIDE}' AND hour IN ({_PAIRS_HOURS})),
         environment_days AS (
            DELETE FROM execution_daily_rollups
             WHERE {{where}} AND workflow_id = '{ENVIRONMENT_WIDE}'
               AND day IN (SELECT unnest(CAST(:days AS timestamptz[]))))"""

_COUNTED = ", ".join(
    f"count(*) FILTER (WHERE normalized_status = '{status}') AS {status}" for status in _STATUSES
)
_SUMMED = ", ".join(f"sum({status}) AS {status}" for status in _STATUSES)


def _summed(spans: str, keys: str, workflow: str, table: str, span: str) -> str:
    """The rest of a statement after a CTE ``spans`` of roll-up rows: their sums, merged
    histograms and newest failure per ``keys`` (ending in ``span``), inserted into ``table``
    as rows of ``workflow`` (an SQL expression); for a later ``str.format``, as the
    statements are."""
    return f""", summed_histograms AS (
        SELECT {keys}, jsonb_object_agg(bucket, n) AS durations
          FROM (SELECT {keys}, bucket.key AS bucket, sum(bucket.value::int) AS n
                  FROM {spans}, jsonb_each_text(durations) AS bucket
                 GROUP BY {keys}, bucket.key) AS counted
         GROUP BY {keys}
    ), summed_failures AS (
        SELECT DISTINCT ON ({keys}) {keys}, last_failure_at, last_failure_id,
               last_failure_n8n_id, last_failure_message, last_failure_node
          FROM {spans} WHERE last_failure_id IS NOT NULL
         ORDER BY {keys}, last_failure_at DESC, last_failure_id DESC
    )
    INSERT INTO {table} (tenant_id, environment_id, workflow_id, {span}, {_FIGURES})
    SELECT {_OWNER}, {workflow}, s.{span}, s.workflow_name, s.total, s.success,
           s.error, s.running, s.waiting, coalesce(h.durations, '{{{{}}}}'::jsonb),
           f.last_failure_at, f.last_failure_id, f.last_failure_n8n_id, f.last_failure_message,
           f.last_failure_node
      FROM (SELECT {keys}, max(workflow_name) AS workflow_name, sum(total) AS total,
                   {_SUMMED}
              FROM {spans} GROUP BY {keys}) AS s
      LEFT JOIN summed_histograms h USING ({keys})
      LEFT JOIN summed_failures f USING ({keys})"""


#: Hours aggregated from executions, then days from the hours just written.
_RECOMPUTE = f"""
    WITH rows AS (
        SELECT workflow_id, {_span(HOUR)} AS hour, workflow_name, normalized_status,
               started_at, id, n8n_execution_id, error_message, error_node,
               {BUCKET_SQL} AS bucket
          FROM executions
         WHERE {{where}} AND started_at IS NOT NULL{{executions}}
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
    ), hours AS (
        INSERT INTO execution_rollups (tenant_id, environment_id, workflow_id, hour, {_FIGURES})
        SELECT {_OWNER}, s.workflow_id, s.hour, s.workflow_name, s.total, s.success,
               s.error, s.running, s.waiting, coalesce(h.durations, '{{{{}}}}'::jsonb),
               f.started_at, f.id, f.n8n_execution_id, f.error_message, f.error_node
          FROM (SELECT workflow_id, hour, max(workflow_name) AS workflow_name,
                       count(*) AS total,
                       {_COUNTED}
                  FROM rows GROUP BY workflow_id, hour) AS s
          LEFT JOIN histograms h USING (workflow_id, hour)
          LEFT JOIN failures f USING (workflow_id, hour)
        RETURNING workflow_id, {_span(DAY, "hour")} AS day, {_FIGURES}
    ){_summed("hours", "workflow_id, day", "s.workflow_id", "execution_daily_rollups", "day")}
"""


def _environment(table: str, span: str) -> str:
    """The environment's rows of ``table`` from its workflows' (just recomputed)."""
    return f"""
    WITH spans AS (
        SELECT * FROM {table}
         WHERE {{where}} AND workflow_id <> '{ENVIRONMENT_WIDE}'{{{span}s}}
    ){_summed("spans", span, f"'{ENVIRONMENT_WIDE}'", table, span)}
"""


_ENVIRONMENT_HOURS = _environment("execution_rollups", "hour")
_ENVIRONMENT_DAYS = _environment("execution_daily_rollups", "day")
#: The days of the pairs' weeks, in a range the (tenant, environment, day) index serves.
_PAIRS_WEEKS_DAYS = (
    f" AND ({_WEEK_OF_DAY}, workflow_id) IN ({_PAIRS_WEEKS})"
    f" AND day >= {_span(WEEK, 'CAST(:first AS timestamptz)')}"
    f" AND day < {_span(WEEK, 'CAST(:last AS timestamptz)')} + interval '{_interval(WEEK)}'"
)
#: Weeks from the days just written, the environment's rows among them (its weeks sum its days).
_WEEKS = f"""
    WITH spans AS (
        SELECT *, {_WEEK_OF_DAY} AS week FROM execution_daily_rollups WHERE {{where}}{{weeks}}
    ){_summed("spans", "workflow_id, week", "s.workflow_id", "execution_weekly_rollups", "week")}
"""


def _recompute(
    tenant_id: uuid.UUID, env_id: uuid.UUID, pairs: tuple[list[str], list[datetime]] | None
) -> None:
    where = "tenant_id = :tenant_id AND environment_id = :environment_id"
    params: dict = {"tenant_id": tenant_id, "environment_id": env_id}
    executions = _scope("started_at", bool(pairs))
    if pairs:
        params["workflows"], params["days"] = pairs
        # A range the (tenant, environment, started_at) index serves, around the pairs' days.
        executions += " AND started_at >= :first AND started_at < :last + interval '1 day'"
        params["first"], params["last"] = min(pairs[1]), max(pairs[1])
    clear = _CLEAR.format(
        where=where,
        hours=_scope("hour", bool(pairs)),
        days=_scope("day", bool(pairs)),
        weeks=f" AND (week, workflow_id) IN ({_PAIRS_WEEKS})" if pairs else "",
        environment=_CLEAR_ENVIRONMENT.format(where=where) if pairs else "",
    )
    db.execute(text(clear), params)
    db.execute(text(_RECOMPUTE.format(where=where, executions=executions)), params)
    # The environment's rows of the pairs' days (of all days in a whole recompute).
    hours = f" AND hour IN ({_PAIRS_HOURS})" if pairs else ""
    days = " AND day IN (SELECT unnest(CAST(:days AS timestamptz[])))" if pairs else ""
    db.execute(text(_ENVIRONMENT_HOURS.format(where=where, hours=hours)), params)
    db.execute(text(_ENVIRONMENT_DAYS.format(where=where, days=days)), params)
    # The pairs' weeks from all their days (every week in a whole recompute).
    weeks = _PAIRS_WEEKS_DAYS if pairs else ""
    db.execute(text(_WEEKS.format(where=where, weeks=weeks)), params)
