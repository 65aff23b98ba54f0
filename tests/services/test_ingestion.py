"""Execution ingestion against the fake n8n: watermark, idempotence, unfinished executions,
failure details, n8n failing half-way, and the job end to end."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text, update

from jobs import core
from models.db import db, tenant_scope
from models.environments import Environment
from models.executions import Execution, ExecutionGap
from models.jobs import BackgroundJob
from services import environments, execution_gaps, execution_writes, sync
from services import ingestion as service
from services.errors import Conflict
from services.n8n import N8nClient
from tests.factories import Factory, TenantFixture
from tests.fake_n8n import FakeN8n
from tests.jobs.helpers import read_job, wait_for

N8N_STATUSES = ("canceled", "crashed", "error", "new", "running", "success", "unknown", "waiting")


@dataclass
class Ingestion:
    """One tenant's environment on a fake n8n, and what a test does with it."""

    app: Flask
    factory: Factory
    tenant: TenantFixture
    env: Environment
    fake: FakeN8n

    def run(self, **kwargs) -> dict:
        return self.factory.run_as(self.tenant.id, service.ingest, self.env.id, **kwargs)

    def start(self) -> uuid.UUID:
        user_id = self.tenant.user_ids["admin"]
        job = self.factory.run_as(
            self.tenant.id,
            environments.start_job,
            "execution_ingestion",
            self.env.id,
            user_id=user_id,
        )
        return job.id

    def rows(self) -> dict[str, Execution]:
        with self.app.app_context(), tenant_scope(self.tenant.id):
            query = select(Execution).where(Execution.environment_id == self.env.id)
            rows = list(db.scalars(query))
            db.expunge_all()
        return {row.n8n_execution_id: row for row in rows}

    def versions(self) -> dict[str, tuple[str, datetime]]:
        """Each row's xmin (it changes whenever PostgreSQL writes the row) and updated_at."""
        with self.app.app_context(), tenant_scope(self.tenant.id):
            rows = db.execute(
                text(
                    "SELECT n8n_execution_id, xmin::text, updated_at FROM executions"
                    " WHERE environment_id = :e"
                ),
                {"e": self.env.id},
            ).all()
        return {row[0]: (row[1], row[2]) for row in rows}

    def environment(self) -> Environment:
        with self.app.app_context(), tenant_scope(self.tenant.id):
            env = db.get(Environment, self.env.id)
            db.expunge(env)
        return env

    def forget_watermark(self) -> None:
        with self.app.app_context(), tenant_scope(self.tenant.id):
            db.execute(
                update(Environment)
                .where(Environment.id == self.env.id)
                .values(execution_watermark=None)
            )
            db.commit()

    def job(self, job_id: uuid.UUID, **kwargs) -> BackgroundJob:
        return wait_for(self.app, self.tenant.id, job_id, **kwargs)


@pytest.fixture
def ingestion(app, factory, tenant, environment, fake_n8n) -> Ingestion:
    return Ingestion(app, factory, tenant, environment, fake_n8n)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _set_times(fake, execution_id: str, started: datetime, stopped: datetime | None) -> None:
    fake.store.executions[int(execution_id)].update(
        startedAt=_iso(started), stoppedAt=_iso(stopped) if stopped else None
    )


def _listings(fake):
    return fake.requests_to(r"/executions", method="GET")


def _reads(fake):
    return fake.requests_to(r"/executions/[^/]+", method="GET")


def _add(fake, workflow_id: str, count: int, **fields) -> list[str]:
    return [fake.add_execution(workflow_id, **fields)["id"] for _ in range(count)]


@pytest.fixture
def workflow_id(fake_n8n) -> str:
    return fake_n8n.add_workflow(name="Orders")["id"]


# --- what is stored ------------------------------------------------------------------------


def test_every_n8n_status_is_normalized():
    assert {s: execution_writes.normalize_status(s) for s in N8N_STATUSES} == {
        "canceled": "error",
        "crashed": "error",
        "error": "error",
        "new": "running",
        "running": "running",
        "success": "success",
        "unknown": "error",
        "waiting": "waiting",
    }
    assert execution_writes.normalize_status("a-status-from-n8n-3.0") == "error"
    assert execution_writes.normalize_status(None) == "error"


def test_first_run_stores_each_execution_as_n8n_sent_it(ingestion, workflow_id):
    fake = ingestion.fake
    factory, tenant = ingestion.factory, ingestion.tenant
    factory.run_as(tenant.id, sync.sync_workflows, ingestion.env.id)  # knows "Orders"
    stranger = fake.add_workflow(name="Not synced")["id"]
    ids = {s: fake.add_execution(workflow_id, status=s)["id"] for s in N8N_STATUSES}
    retry = fake.add_execution(stranger, status="success", mode="retry", retry_of=ids["error"])
    # Yesterday, inside any retention window, with milliseconds as n8n sends them.
    started = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=250_000)
    _set_times(fake, retry["id"], started, started + timedelta(seconds=1.5))

    summary = ingestion.run()

    rows = ingestion.rows()
    assert summary["inserted"] == len(rows) == len(N8N_STATUSES) + 1
    assert summary["updated"] == 0 and summary["pages"] == 1
    assert summary["watermark"] == retry["id"]
    for status, execution_id in ids.items():
        row = rows[execution_id]
        assert (row.status, row.normalized_status) == (
            status,
            execution_writes.normalize_status(status),
        )
        assert (row.workflow_name, row.mode) == ("Orders", "trigger")
    assert rows[ids["new"]].started_at is None
    assert rows[ids["running"]].finished_at is None
    assert rows[ids["running"]].execution_time is None
    assert rows[ids["success"]].execution_time == 0
    retried = rows[retry["id"]]
    assert (retried.mode, retried.retry_of) == ("retry", ids["error"])
    assert (retried.workflow_id, retried.workflow_name) == (stranger, None)
    assert retried.started_at == started
    assert retried.execution_time == 1500
    env = ingestion.environment()
    assert env.execution_watermark == retry["id"]
    assert env.last_execution_sync_at is not None


def test_failures_carry_message_and_node_and_only_they_are_read_with_data(ingestion, workflow_id):
    fake = ingestion.fake
    failed = fake.add_execution(
        workflow_id, status="error", error_message="Bad gateway from CRM", error_node="HTTP Request"
    )["id"]
    crashed = fake.add_execution(workflow_id, status="crashed", error_node="Code")["id"]
    fine = _add(fake, workflow_id, 3)
    summary = ingestion.run()
    rows = ingestion.rows()
    assert (rows[failed].error_message, rows[failed].error_node) == (
        "Bad gateway from CRM",
        "HTTP Request",
    )
    # No error object in its run data: the last node that ran is the one to look at.
    assert (rows[crashed].error_message, rows[crashed].error_node) == (None, "Code")
    assert all(rows[i].error_message is None for i in fine)
    assert summary["failures_fetched"] == 2
    reads = _reads(fake)
    assert sorted(r.api_path for r in reads) == sorted(
        [f"/executions/{failed}", f"/executions/{crashed}"]
    )
    assert all(r.query.get("includeData") == "true" for r in reads)
    assert all("includeData" not in r.query for r in _listings(fake))


def test_a_long_error_message_is_cut(ingestion, workflow_id):
    ingestion.fake.add_execution(workflow_id, status="error", error_message="x" * 10_000)
    ingestion.run()
    [row] = ingestion.rows().values()
    assert len(row.error_message) == service.MAX_ERROR_MESSAGE_CHARS


def test_first_run_stops_at_the_retention_window(ingestion, workflow_id):
    fake = ingestion.fake
    old = _add(fake, workflow_id, 260)
    recent = _add(fake, workflow_id, 40)
    eight_days_ago = datetime.now(UTC) - timedelta(days=8)
    for execution_id in old:
        _set_times(fake, execution_id, eight_days_ago, eight_days_ago)
    summary = ingestion.run()
    assert set(ingestion.rows()) == set(recent)
    assert summary["inserted"] == 40
    # The first page already reached the window's edge: no second page was asked for.
    assert len(_listings(fake)) == 1


# --- incremental and idempotent ------------------------------------------------------------


def test_a_second_run_reads_only_newer_executions(ingestion, workflow_id):
    fake = ingestion.fake
    first = _add(fake, workflow_id, 600)
    assert ingestion.run()["pages"] == 3
    fake.clear_requests()
    newer = _add(fake, workflow_id, 10)
    summary = ingestion.run()
    assert summary["inserted"] == 10 and summary["updated"] == 0
    assert summary["watermark"] == newer[-1]
    [listing] = _listings(fake)
    assert "cursor" not in listing.query and listing.query["limit"] == "250"
    assert set(ingestion.rows()) == set(first) | set(newer)


def test_listed_executions_are_written_four_pages_at_a_time(ingestion, workflow_id, monkeypatch):
    ids = _add(ingestion.fake, workflow_id, service.WRITE_BATCH + service.PAGE_SIZE // 2)
    writes = []
    upsert = execution_writes.upsert_page

    def counted(env, executions, details=None):
        if executions:
            writes.append(len(executions))
        return upsert(env, executions, details)

    monkeypatch.setattr(execution_writes, "upsert_page", counted)
    summary = ingestion.run()
    assert summary["pages"] == 5 and summary["inserted"] == len(ids)
    assert writes == [service.WRITE_BATCH, service.PAGE_SIZE // 2]
    assert set(ingestion.rows()) == set(ids)


def test_ids_are_compared_as_numbers(ingestion, workflow_id):
    _add(ingestion.fake, workflow_id, 9)
    assert ingestion.run()["watermark"] == "9"
    newer = _add(ingestion.fake, workflow_id, 3)  # "10" < "9" as text
    summary = ingestion.run()
    assert summary["inserted"] == 3 and summary["watermark"] == newer[-1] == "12"
    assert service.is_newer("10", "9")
    assert not service.is_newer("9", "10")
    # Ids that are not numbers have no known order: only the watermark itself stops.
    assert service.is_newer("b", "c") and not service.is_newer("c", "c")


def test_reingesting_the_same_data_changes_nothing(ingestion, workflow_id):
    fake = ingestion.fake
    running = fake.add_execution(workflow_id, status="running")["id"]
    _add(fake, workflow_id, 300)
    fake.add_execution(workflow_id, status="error", error_message="boom", error_node="Code")
    ingestion.run()
    before = ingestion.versions()
    assert running in before  # the listing skipped it; read by id
    ingestion.forget_watermark()
    fake.clear_requests()
    summary = ingestion.run()
    assert summary["inserted"] == summary["updated"] == 0
    assert summary["unchanged"] == summary["listed"] + summary["reread"] == 301 + 1
    assert ingestion.versions() == before
    # The failure stored with its details is not read again.
    assert [r.api_path for r in _reads(fake)] == [f"/executions/{running}"]


def test_an_unfinished_execution_is_updated_by_a_later_run(ingestion, workflow_id):
    fake = ingestion.fake
    running = fake.add_execution(workflow_id, status="running")["id"]
    waiting = fake.add_execution(workflow_id, status="waiting")["id"]
    failing = fake.add_execution(workflow_id, status="running")["id"]
    deleted = fake.add_execution(workflow_id, status="new")["id"]
    fake.add_execution(workflow_id, status="success")
    # The listing leaves all four out; their ids are read one by one.
    first = ingestion.run()
    assert first["listed"] == 1
    assert first["skipped_ids"] == {"tracked": 4, "untracked": 0, "found": 4, "gave_up": 0}
    assert ingestion.rows()[running].normalized_status == "running"

    started = datetime.now(UTC) - timedelta(minutes=1)
    fake.finish_execution(running)
    _set_times(fake, running, started, started + timedelta(seconds=42))
    fake.finish_execution(failing, status="error", error_message="timeout", error_node="Wait")
    del fake.store.executions[int(deleted)]
    fake.clear_requests()

    summary = ingestion.run()

    rows = ingestion.rows()
    assert rows[running].normalized_status == "success"
    assert rows[running].execution_time == 42_000
    assert rows[waiting].normalized_status == "waiting"
    assert (rows[failing].normalized_status, rows[failing].error_message) == ("error", "timeout")
    assert rows[failing].error_node == "Wait"
    assert deleted not in rows
    assert summary["reread"] == 3 and summary["vanished"] == 1
    assert summary["updated"] == 2 and summary["failures_fetched"] == 1
    reads = sorted((r.api_path, r.query.get("includeData", "")) for r in _reads(fake))
    assert reads == sorted(
        [
            (f"/executions/{running}", ""),
            (f"/executions/{waiting}", ""),
            (f"/executions/{failing}", ""),
            (f"/executions/{failing}", "true"),
            (f"/executions/{deleted}", ""),
        ]
    )


def _watermark_jump(fake, watermark: str | None) -> tuple[set[str], str | None]:
    """The ingestion this replaced: list down to the watermark, store what is listed, move
    the watermark to the newest id listed. Returns (ids stored, new watermark)."""
    with N8nClient(fake.url, fake.api_key, allow_private=True) as client:
        listed = [e["id"] for page in client.iter_executions() for e in page]
    fresh = [i for i in listed if watermark is None or service.is_newer(i, watermark)]
    return set(fresh), (fresh[0] if fresh else watermark)


def test_executions_in_flight_while_newer_ones_finish_are_not_lost(ingestion, workflow_id):
    """Two Wait-node workflows: their executions are in flight (left out of every listing)
    while newer executions finish and are listed. Jumping the watermark to the newest id
    lost them for good; their skipped ids are tracked and read until they finish."""
    fake = ingestion.fake
    done = _add(fake, workflow_id, 20)
    short_wait = fake.add_execution(workflow_id, status="running")["id"]
    long_wait = fake.add_execution(workflow_id, status="waiting")["id"]
    done += _add(fake, workflow_id, 8)
    old_stored, old_mark = _watermark_jump(fake, None)
    ingestion.run()
    # Later, both finish and more executions run.
    fake.finish_execution(short_wait)
    fake.finish_execution(long_wait, status="error", error_message="late", error_node="HTTP")
    done += _add(fake, workflow_id, 5)
    more, old_mark = _watermark_jump(fake, old_mark)
    old_stored |= more
    ingestion.run()

    everything = {*done, short_wait, long_wait}
    assert everything - old_stored == {short_wait, long_wait}  # lost by the old code
    rows = ingestion.rows()
    assert set(rows) == everything
    assert rows[short_wait].normalized_status == "success"
    assert (rows[long_wait].normalized_status, rows[long_wait].error_message) == ("error", "late")


def test_a_skipped_id_that_stays_gone_is_given_up(ingestion, workflow_id):
    fake = ingestion.fake
    first = _add(fake, workflow_id, 2)
    unsaved = fake.add_execution(workflow_id, status="running")["id"]
    _add(fake, workflow_id, 2)
    # n8n deletes an execution it was told not to save when it ends.
    del fake.store.executions[int(unsaved)]
    assert ingestion.run()["skipped_ids"]["tracked"] == 1
    assert ingestion.run()["skipped_ids"]["gave_up"] == 0  # too soon: looked for again
    with ingestion.app.app_context(), tenant_scope(ingestion.tenant.id):
        db.execute(
            update(ExecutionGap).values(created_at=datetime.now(UTC) - timedelta(minutes=11))
        )
        db.commit()
    assert ingestion.run()["skipped_ids"]["gave_up"] == 1
    assert ingestion.run()["skipped_ids"] == {
        "tracked": 0,
        "untracked": 0,
        "found": 0,
        "gave_up": 0,
    }
    assert unsaved not in ingestion.rows() and set(first) <= set(ingestion.rows())


def test_skipped_ids_are_the_gaps_below_the_newest_listed():
    assert execution_gaps.skipped({"10", "7", "6"}, floor="3") == ([9, 8, 5, 4], 4)
    assert execution_gaps.skipped({"10", "7"}, floor=None) == ([9, 8], 2)
    assert execution_gaps.skipped({"abc"}, floor="3") == ([], 0)
    ids, total = execution_gaps.skipped({"1000000"}, floor="0")
    assert (len(ids), ids[0], total) == (execution_gaps.MAX_NEW, 999_999, 999_999)


def test_executions_ingested_before_the_first_sync_get_its_name(ingestion, workflow_id):
    _add(ingestion.fake, workflow_id, 3)
    ingestion.run()
    assert {row.workflow_name for row in ingestion.rows().values()} == {None}
    ingestion.factory.run_as(ingestion.tenant.id, sync.sync_workflows, ingestion.env.id)
    assert {row.workflow_name for row in ingestion.rows().values()} == {"Orders"}


# --- n8n failing ---------------------------------------------------------------------------


def test_n8n_failing_half_way_keeps_the_watermark_and_a_rerun_reads_the_rest(
    ingestion, workflow_id
):
    fake = ingestion.fake
    _add(fake, workflow_id, 5)
    ingestion.run()
    failed = fake.add_execution(workflow_id, status="error", error_message="old")["id"]
    _add(fake, workflow_id, 349)
    newest = _add(fake, workflow_id, 250)[-1]

    def fail_after_first_page(**update):
        if update.get("current") == 250:
            fake.fail_path(r"/api/v1/executions$", 500, times=None)

    with pytest.raises(service.IngestionInterrupted) as raised:
        ingestion.run(progress=fail_after_first_page)
    message = raised.value.message
    assert "after 1 page(s) and 250 execution(s)" in message
    assert "500" in message and "watermark is unchanged" in message
    assert ingestion.environment().execution_watermark == "5"
    assert len(ingestion.rows()) == 255

    fake.clear_faults()
    summary = ingestion.run()
    assert summary["inserted"] == 350 and summary["updated"] == 0
    assert summary["watermark"] == newest
    rows = ingestion.rows()
    assert rows[failed].error_message == "old"
    assert len(rows) == 605


def test_n8n_down_is_a_clear_error(ingestion, workflow_id):
    _add(ingestion.fake, workflow_id, 3)
    ingestion.fake.go_down()
    try:
        with pytest.raises(service.IngestionInterrupted) as raised:
            ingestion.run()
    finally:
        ingestion.fake.come_back()
    assert "Nothing answered at this URL" in raised.value.message
    assert ingestion.environment().execution_watermark is None
    assert ingestion.rows() == {}


# --- the job -------------------------------------------------------------------------------


@pytest.fixture
def idle(ingestion) -> Ingestion:
    """``ingestion`` with the environment's onboarding job cancelled, so a worker started
    after this fixture runs only the jobs a test starts."""
    with ingestion.app.app_context(), tenant_scope(ingestion.tenant.id):
        onboarding = db.scalar(
            select(BackgroundJob.id).where(
                BackgroundJob.resource_id == ingestion.env.id,
                BackgroundJob.job_type == "onboarding",
            )
        )
        core.cancel(onboarding)
    return ingestion


def test_the_job_ingests_through_a_worker(idle, workflow_id, worker):
    ids = _add(idle.fake, workflow_id, 260)
    job = idle.job(idle.start())
    assert job.status == "completed", job.error_message
    assert (job.job_type, job.resource_type) == ("execution_ingestion", "environment")
    assert job.concurrency_key == f"execution_ingestion:{idle.env.id}"
    assert job.result["inserted"] == 260 and job.result["watermark"] == ids[-1]
    assert job.progress["current"] == 260
    assert set(idle.rows()) == set(ids)


def test_a_second_trigger_while_one_is_pending_is_a_conflict(idle):
    first = idle.start()
    with pytest.raises(Conflict) as raised:
        idle.start()
    assert raised.value.details["job_id"] == str(first)


def test_a_job_cut_short_by_n8n_says_why_without_the_api_key(idle, workflow_id, worker):
    fake = idle.fake
    # Page 2 holds the only failure; reading its run data fails after page 1 was stored.
    failed = fake.add_execution(workflow_id, status="error", error_message="boom")["id"]
    _add(fake, workflow_id, 299)
    echo = {"message": f"upstream rejected key {fake.api_key}"}
    fake.fail_path(rf"/executions/{failed}$", 500, times=None, body=echo)
    job_id = idle.start()
    job = _first_error(idle, job_id)
    assert job.error_class == "services.ingestion.IngestionInterrupted"
    assert "after 2 page(s) and 300 execution(s)" in job.error_message
    assert "n8n answered 500: upstream rejected key [redacted]" in job.error_message
    for column in ("error_message", "error_traceback", "result", "progress", "params"):
        assert fake.api_key not in str(getattr(job, column)), column
    assert len(idle.rows()) == 250
    assert idle.environment().execution_watermark is None

    idle.factory.run_as(idle.tenant.id, core.cancel, job_id)  # no automatic retry: ours
    fake.clear_faults()
    rerun = idle.job(idle.start())
    assert rerun.status == "completed", rerun.error_message
    assert rerun.result["inserted"] == 50 and rerun.result["failures_fetched"] == 1
    assert idle.rows()[failed].error_message == "boom"


def _first_error(ingestion: Ingestion, job_id: uuid.UUID, timeout_s: float = 30.0):
    """The job once its first attempt's error is recorded (it then waits for a retry)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = read_job(ingestion.app, ingestion.tenant.id, job_id)
        if job.error_class:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} recorded no error")
