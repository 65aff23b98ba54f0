"""Roll-ups (hourly, daily and weekly): kept exact by ingestion as executions arrive, change
and vanish, by differences (equal to a recompute from the executions, whatever the order of
changes and however writers interleave), and read by analytics over windows longer than an
hour, with the executions of the window's first partial hour, for the same figures as the
executions give (percentiles within one histogram bucket)."""

from __future__ import annotations

import math
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from models.db import db
from models.executions import (
    Execution,
    ExecutionDailyRollup,
    ExecutionRollup,
    ExecutionWeeklyRollup,
)
from models.workflows import WorkflowEnvMap
from services import execution_rollups as rollups
from services import execution_writes, executions, rollup_maintenance

NOW = datetime.now(UTC).replace(microsecond=0)
#: Relative error of a percentile read from the histogram: one bucket's width.
BUCKET_ERROR = 2 ** (1 / rollups.BUCKETS_PER_DOUBLING) - 1


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _execution(n8n_id: int, workflow: str, status: str, started: datetime, ms: int | None):
    return {
        "id": str(n8n_id),
        "workflowId": workflow,
        "status": status,
        "mode": "trigger",
        "startedAt": _iso(started),
        "stoppedAt": _iso(started + timedelta(milliseconds=ms)) if ms is not None else None,
    }


def _store_history(factory, tenant, environment, *, count: int, days: int) -> list[dict]:
    """``count`` executions of three workflows over the last ``days`` days, some failed, some
    still running."""
    chance = random.Random(13)
    page = []
    for n in range(count):
        status = chance.choices(["success", "error", "running"], weights=[80, 15, 5])[0]
        started = NOW - timedelta(minutes=chance.randrange(days * 24 * 60))
        ms = None if status == "running" else int(chance.lognormvariate(6, 1.5))
        page.append(_execution(n, f"wf-{n % 3}", status, started, ms))
    details = {e["id"]: (f"failed {e['id']}", "HTTP") for e in page if e["status"] == "error"}

    def store():
        execution_writes.upsert_page(environment, page, details)
        db.commit()

    factory.run_as(tenant.id, store)
    return page


@pytest.fixture
def history(factory, tenant, environment) -> list[dict]:
    """400 executions over five days."""
    return _store_history(factory, tenant, environment, count=400, days=5)


@pytest.fixture
def month(factory, tenant, environment) -> list[dict]:
    """600 executions over 30 days: whole weeks."""
    return _store_history(factory, tenant, environment, count=600, days=30)


def _both(factory, tenant, environment, *, by_workflow: bool, minute: int = 0):
    """Figures from roll-ups and from the executions, for the same window (starting on the
    hour, or ``minute`` past it)."""
    since = (NOW - timedelta(hours=72)).replace(minute=minute, second=0)

    def read():
        raw = db.execute(
            executions._stats(environment.id, since, workflow_id=None, by_workflow=by_workflow)
        ).all()
        rolled = rollups.figures(tenant.id, environment.id, since, by_workflow=by_workflow)
        return raw, rolled

    return factory.run_as(tenant.id, read)


def _assert_same(raw, rolled) -> None:
    for name in ("total", "success", "error", "running", "waiting"):
        assert getattr(rolled, name) == getattr(raw, name), name
    for name in ("p50_ms", "p95_ms"):
        assert getattr(rolled, name) == pytest.approx(getattr(raw, name), rel=BUCKET_ERROR)
    assert (rolled.failure_id, rolled.failure_message) == (raw.failure_id, raw.failure_message)
    assert rolled.failure_at == raw.failure_at


@pytest.mark.parametrize("minute", [0, 37])
def test_an_environment_window_matches_its_executions(
    factory, tenant, environment, history, minute
):
    (raw,), (rolled,) = _both(factory, tenant, environment, by_workflow=False, minute=minute)
    assert raw.total > 100
    _assert_same(raw, rolled)


@pytest.mark.parametrize("minute", [0, 37])
def test_each_workflow_matches_its_executions(factory, tenant, environment, history, minute):
    raw, rolled = _both(factory, tenant, environment, by_workflow=True, minute=minute)
    by_id = {row.workflow_id: row for row in rolled}
    assert sorted(by_id) == sorted(row.workflow_id for row in raw) == ["wf-0", "wf-1", "wf-2"]
    for row in raw:
        _assert_same(row, by_id[row.workflow_id])


def test_a_finish_and_a_vanished_execution_are_rolled_up_again(
    factory, tenant, environment, history
):
    running = next(e for e in history if e["status"] == "running")
    gone = next(e for e in history if e["status"] == "running" and e is not running)
    started = datetime.fromisoformat(running["startedAt"])
    finished = {**running, "status": "success", "stoppedAt": _iso(started + timedelta(seconds=2))}
    hour = started.replace(minute=0, second=0, microsecond=0)

    def change():
        before = _hour_row(environment.id, running["workflowId"], hour)
        execution_writes.upsert_page(environment, [finished])
        execution_writes.delete(environment, [gone["id"]])
        db.commit()
        return before, _hour_row(environment.id, running["workflowId"], hour)

    before, after = factory.run_as(tenant.id, change)
    assert (after.running, after.success) == (before.running - 1, before.success + 1)
    (raw,), (rolled,) = _both(factory, tenant, environment, by_workflow=False)
    _assert_same(raw, rolled)


def _hour_row(env_id, workflow_id, hour) -> ExecutionRollup:
    row = db.scalars(
        select(ExecutionRollup).where(
            ExecutionRollup.environment_id == env_id,
            ExecutionRollup.workflow_id == workflow_id,
            ExecutionRollup.hour == hour,
        )
    ).one()
    db.expunge(row)
    return row


def test_a_long_window_reads_executions_only_before_its_first_whole_hour(
    factory, tenant, environment, history
):
    """Failures stored without their roll-ups (straight into executions) before the window,
    in its first partial hour and in a whole hour: only the partial hour's is read."""
    since = (NOW - timedelta(hours=72)).replace(minute=30, second=0)
    offsets = {"before": -1, "edge": 10, "whole hour": 120}

    def read():
        (before,) = rollups.figures(tenant.id, environment.id, since, workflow_id="wf-0")
        for name, minutes in offsets.items():
            db.execute(
                insert(Execution).values(
                    tenant_id=tenant.id,
                    environment_id=environment.id,
                    n8n_execution_id=f"direct {name}",
                    workflow_id="wf-0",
                    normalized_status="error",
                    started_at=since + timedelta(minutes=minutes),
                    execution_time=5,
                )
            )
        (after,) = rollups.figures(tenant.id, environment.id, since, workflow_id="wf-0")
        db.rollback()
        return before, after

    before, after = factory.run_as(tenant.id, read)
    assert (after.total, after.error) == (before.total + 1, before.error + 1)


def test_a_long_window_counts_every_execution(factory, tenant, environment, history):
    figures = factory.run_as(tenant.id, executions.analytics, environment.id, window_hours=24 * 90)
    assert figures["counts"]["total"] == len(history)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.95, 1.0])
def test_percentiles_of_a_histogram_stay_within_a_bucket(fraction):
    durations = sorted(random.Random(7).randint(1, 60_000) for _ in range(1000))
    histogram: dict[int, int] = {}
    for value in durations:
        bucket = int(rollups.BUCKETS_PER_DOUBLING * math.log2(value + 1))
        histogram[bucket] = histogram.get(bucket, 0) + 1
    exact = durations[round(fraction * (len(durations) - 1))]
    assert rollups.percentile(histogram, fraction) == pytest.approx(exact, rel=BUCKET_ERROR)
    assert rollups.percentile({}, fraction) is None


# --- kept by differences ---------------------------------------------------------------------


def _stored(env_id) -> dict:
    """Every level's rows of the environment, keyed by (level, workflow, span), without ids."""
    stored = {}
    levels = (
        (ExecutionRollup, "hour"),
        (ExecutionDailyRollup, "day"),
        (ExecutionWeeklyRollup, "week"),
    )
    for model, span in levels:
        for row in db.scalars(select(model).where(model.environment_id == env_id)):
            figures = {
                name: getattr(row, name)
                for name in (
                    "workflow_name",
                    "total",
                    "success",
                    "error",
                    "running",
                    "waiting",
                    "durations",
                    *(f"last_failure_{field}" for field in ("at", "id", "n8n_id", "message")),
                    "last_failure_node",
                )
            }
            stored[(span, row.workflow_id, getattr(row, span))] = figures
    db.rollback()
    return stored


def _assert_equal_to_a_recompute(factory, tenant, environment) -> dict:
    def compare():
        kept = _stored(environment.id)
        rollup_maintenance.rebuild(tenant.id, environment.id)
        recomputed = _stored(environment.id)
        db.rollback()
        return kept, recomputed

    kept, recomputed = factory.run_as(tenant.id, compare)
    assert kept.keys() == recomputed.keys()
    for key, figures in recomputed.items():
        assert kept[key] == figures, key
    return kept


def test_changes_deletions_moves_and_renames_keep_every_level_exact(
    factory, tenant, environment, history
):
    chance = random.Random(21)
    running = [e for e in history if e["status"] == "running"]
    failed = [e for e in history if e["status"] == "error"]
    newest_failure = max(failed, key=lambda e: e["startedAt"])

    def finish(e, status, ms):
        started = datetime.fromisoformat(e["startedAt"])
        return {**e, "status": status, "stoppedAt": _iso(started + timedelta(milliseconds=ms))}

    changed = [finish(e, "success", chance.randint(10, 90_000)) for e in running[::2]]
    changed += [finish(e, "error", 1234) for e in running[1::4]]
    # A failure that turns out a success, and one whose duration changes.
    changed.append(finish(newest_failure, "success", 50))
    changed.append(finish(failed[0], "error", 777_777))
    # An execution that moves a day back, and one that moves to another workflow.
    moved = history[5]
    changed.append(
        {
            **moved,
            "startedAt": _iso(datetime.fromisoformat(moved["startedAt"]) - timedelta(days=1)),
            "stoppedAt": None,
            "status": "running",
        }
    )
    changed.append({**history[6], "workflowId": "wf-9"})
    gone = [e["id"] for e in history[100:130]] + [failed[1]["id"]]

    def change():
        # wf-1 gets a name: rows re-read from now on carry it, the rest get it from the sync.
        db.execute(
            insert(WorkflowEnvMap).values(
                environment_id=environment.id, n8n_workflow_id="wf-1", workflow_name="Billing"
            )
        )
        for start in range(0, len(changed), 7):  # several pages, as a run writes them
            execution_writes.upsert_page(environment, changed[start : start + 7], {})
            db.commit()
        execution_writes.delete(environment, gone)
        db.commit()
        execution_writes.name_unnamed(environment.id)
        db.commit()

    factory.run_as(tenant.id, change)
    kept = _assert_equal_to_a_recompute(factory, tenant, environment)
    days = {key: row for key, row in kept.items() if key[0] == "day"}
    # Each span twice: its workflows' rows, and the environment's own row summing them.
    for span in ("hour", "day", "week"):
        for whole_environment in (False, True):
            assert sum(
                row["total"]
                for (level, workflow_id, _), row in kept.items()
                if level == span and (workflow_id == rollups.ENVIRONMENT_WIDE) is whole_environment
            ) == len(history) - len(gone)
    assert {row["workflow_name"] for key, row in days.items() if key[1] == "wf-1"} == {"Billing"}
    assert (
        "day",
        "wf-9",
        datetime.fromisoformat(history[6]["startedAt"]).replace(
            hour=0, minute=0, second=0, microsecond=0
        ),
    ) in kept
    (raw,), (rolled,) = _both(factory, tenant, environment, by_workflow=False)
    _assert_same(raw, rolled)


def test_a_span_left_empty_is_removed(factory, tenant, environment):
    alone = _execution(1, "wf-lone", "error", NOW - timedelta(days=3), 20)

    def store_and_delete():
        execution_writes.upsert_page(environment, [alone], {"1": ("boom", "HTTP")})
        db.commit()
        before = _stored(environment.id)
        execution_writes.delete(environment, ["1"])
        db.commit()
        return before, _stored(environment.id)

    before, after = factory.run_as(tenant.id, store_and_delete)
    assert {key[0] for key in before} == {"hour", "day", "week"}
    assert after == {}


def test_concurrent_writers_of_the_same_hour_lose_no_change(factory, tenant, environment):
    """Writer B's statement starts while writer A's change of the same rows is uncommitted:
    B waits for A's row locks, replaces A's versions (not those of its snapshot) and so
    recomputes their days; nothing A or B changed is lost or counted twice."""
    started = NOW - timedelta(hours=30)
    ids = range(1000, 1040)
    first = [_execution(n, "wf-0", "running", started, None) for n in ids]
    finished = [_execution(n, "wf-0", "success", started, 100) for n in ids]
    failed = [_execution(n, "wf-0", "error", started, 200) for n in ids]
    factory.run_as(
        tenant.id, lambda: (execution_writes.upsert_page(environment, first), db.commit())
    )
    holding, release = threading.Event(), threading.Event()

    def writer_a():
        execution_writes.upsert_page(environment, finished)
        holding.set()
        release.wait(timeout=10)
        db.commit()

    def writer_b():
        holding.wait(timeout=10)
        execution_writes.upsert_page(environment, failed)
        db.commit()

    threads = [
        threading.Thread(target=factory.run_as, args=(tenant.id, writer))
        for writer in (writer_a, writer_b)
    ]
    for thread in threads:
        thread.start()
    holding.wait(timeout=10)
    threading.Event().wait(0.5)  # writer B is now waiting for writer A's row locks
    release.set()
    for thread in threads:
        thread.join(timeout=20)
    kept = _assert_equal_to_a_recompute(factory, tenant, environment)
    day = started.replace(hour=0, minute=0, second=0, microsecond=0)
    assert (kept[("day", "wf-0", day)]["error"], kept[("day", "wf-0", day)]["success"]) == (40, 0)


# --- daily and weekly rows for whole days and weeks ----------------------------------------


def _assert_levels_agree(factory, tenant, environment, since, *, by_workflow, finer) -> int:
    """The window's figures read with every level equal those read without the coarser
    levels (each of ``finer``: figures() arguments that leave some out), for the environment
    or per workflow, and for one workflow; the window's total."""

    def read(**kwargs):
        return [
            vars(row)
            for row in rollups.figures(
                tenant.id, environment.id, since, by_workflow=by_workflow, **kwargs
            )
        ]

    every = factory.run_as(tenant.id, read)
    for without in finer:
        assert every == factory.run_as(tenant.id, read, **without)
        if not by_workflow:
            one = factory.run_as(tenant.id, read, workflow_id="wf-2")
            assert one == factory.run_as(tenant.id, read, workflow_id="wf-2", **without)
    return sum(row["total"] for row in every)


@pytest.mark.parametrize("by_workflow", [False, True])
@pytest.mark.parametrize("offset_hours", [0, 1, 23, 24, 47, 71, 95, 119])
def test_days_and_hours_give_what_hours_alone_give(
    factory, tenant, environment, history, offset_hours, by_workflow
):
    """Windows starting on, just after and just before a midnight: whole days read from the
    daily rows, the first day's hours from the hourly ones, and the same figures."""
    midnight = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    since = midnight - timedelta(hours=offset_hours)
    after_everything = NOW + timedelta(days=8)
    hours_only = {"days_from": after_everything, "weeks_from": after_everything}
    total = _assert_levels_agree(
        factory, tenant, environment, since, by_workflow=by_workflow, finer=[hours_only]
    )
    assert total > 0


@pytest.mark.parametrize("by_workflow", [False, True])
@pytest.mark.parametrize("before_a_week_hours", [0, 1, 23, 24 * 6 + 5, 24 * 7 + 13])
def test_weeks_days_and_hours_give_what_days_and_hours_give(
    factory, tenant, environment, month, before_a_week_hours, by_workflow
):
    """Windows starting on, just before and days before a week's start, three weeks before
    now: whole weeks read from the weekly rows, the days before them from the daily ones, and
    the same figures as days and hours alone, or hours alone, give."""
    week = rollups.first_boundary(NOW - 3 * rollups.WEEK, rollups.WEEK)
    since = week - timedelta(hours=before_a_week_hours, minutes=17)
    after_everything = NOW + timedelta(days=8)
    finer = [
        {"weeks_from": after_everything},
        {"days_from": after_everything, "weeks_from": after_everything},
    ]
    total = _assert_levels_agree(
        factory, tenant, environment, since, by_workflow=by_workflow, finer=finer
    )
    assert total > 300


@pytest.mark.parametrize(
    ("span", "start"),
    [
        (rollups.HOUR, datetime(2026, 3, 4, 7, tzinfo=UTC)),
        (rollups.DAY, datetime(2026, 3, 4, tzinfo=UTC)),
        # Weeks start on Thursdays, as date_bin counts seven days from the epoch.
        (rollups.WEEK, datetime(2026, 3, 5, tzinfo=UTC)),
    ],
)
def test_first_boundary_of_a_window(span, start):
    assert rollups.first_boundary(start, span) == start
    assert rollups.first_boundary(start + timedelta(minutes=1), span) == start + span
    assert rollups.first_boundary(start - timedelta(minutes=1), span) == start
    assert rollups.first_boundary(start - span, span) == start - span


def test_an_execution_without_a_workflow_is_counted_once(factory, tenant, environment):
    """n8n always names the workflow, but a listing without one must not land in the rows
    that sum the whole environment (their workflow_id is ENVIRONMENT_WIDE)."""
    orphan = _execution(1, "", "success", NOW - timedelta(hours=3), 20)
    orphan.pop("workflowId")
    named = _execution(2, "wf-1", "error", NOW - timedelta(hours=3), 40)

    def store():
        execution_writes.upsert_page(environment, [orphan, named], {})
        db.commit()
        return executions.analytics(environment.id, window_hours=24)

    counts = factory.run_as(tenant.id, store)["counts"]
    assert (counts["total"], counts["success"], counts["error"]) == (2, 1, 1)
