"""Hourly roll-ups: kept exact by ingestion as executions arrive, change and vanish, and read
by analytics over long windows with the same figures as the executions give (percentiles
within one histogram bucket)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from models.db import db, get_engine
from models.executions import ExecutionRollup
from services import execution_rollups as rollups
from services import executions, ingestion

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


@pytest.fixture
def history(factory, tenant, environment) -> list[dict]:
    """400 executions of three workflows over five days, some failed, some still running."""
    chance = random.Random(13)
    page = []
    for n in range(400):
        status = chance.choices(["success", "error", "running"], weights=[80, 15, 5])[0]
        started = NOW - timedelta(minutes=chance.randrange(5 * 24 * 60))
        ms = None if status == "running" else int(chance.lognormvariate(6, 1.5))
        page.append(_execution(n, f"wf-{n % 3}", status, started, ms))
    details = {e["id"]: (f"failed {e['id']}", "HTTP") for e in page if e["status"] == "error"}

    def store():
        ingestion.upsert_page(environment, page, details)
        db.commit()

    factory.run_as(tenant.id, store)
    return page


def _both(factory, tenant, environment, *, by_workflow: bool):
    """Figures from roll-ups and from the executions, for the same hour-aligned window."""
    since = (NOW - timedelta(hours=72)).replace(minute=0, second=0)

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


def test_an_environment_window_matches_its_executions(factory, tenant, environment, history):
    (raw,), (rolled,) = _both(factory, tenant, environment, by_workflow=False)
    assert raw.total > 100
    _assert_same(raw, rolled)


def test_each_workflow_matches_its_executions(factory, tenant, environment, history):
    raw, rolled = _both(factory, tenant, environment, by_workflow=True)
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
        ingestion.upsert_page(environment, [finished])
        ingestion._delete(environment, [gone["id"]])
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


def test_a_long_window_reads_no_execution(factory, tenant, environment, history):
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(get_engine(), "before_cursor_execute", record)
    try:
        figures = factory.run_as(
            tenant.id, executions.analytics, environment.id, window_hours=24 * 90
        )
    finally:
        event.remove(get_engine(), "before_cursor_execute", record)
    assert figures["counts"]["total"] == len(history)
    assert not any("FROM executions" in statement for statement in seen)


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
