"""Logs are JSON lines carrying the request id, tenant id, job id and job type of the work
they belong to."""

from __future__ import annotations

import io
import json
import logging
import uuid

import dramatiq
import pytest
from flask import g

from jobs.telemetry import JobTelemetry, report_outcome
from models.db import tenant_scope
from services import logs


@pytest.fixture
def log_lines():
    """Route the root logger to a buffer as the processes do; returns a reader of its lines."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    logs.configure("INFO", process="web", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_a_request_logs_its_request_id_and_tenant(make_app, tenant, log_lines):
    app = make_app()

    @app.before_request
    def _request_id():  # what the request id middleware provides
        g.request_id = "req-42"

    @app.get("/_probe")
    def _probe():
        with tenant_scope(tenant.id):
            logging.getLogger("web.probe").warning("inside a request")
        return "ok"

    assert app.test_client().get("/_probe").status_code == 200
    line = next(line for line in log_lines() if line["message"] == "inside a request")
    assert line["level"] == "WARNING" and line["logger"] == "web.probe"
    assert line["process"] == "web" and line["request_id"] == "req-42"
    assert line["tenant_id"] == str(tenant.id)
    assert line["time"].endswith("+00:00")


def test_outside_a_request_or_job_no_context_is_invented(log_lines):
    logging.getLogger("x").info("plain")
    (line,) = log_lines()
    print(line)
    assert not {"request_id", "tenant_id", "job_id", "job_type"} & line.keys()


def test_a_job_logs_its_id_type_and_tenant_and_counts_its_outcome(app, log_lines, metric):
    job_id, tenant_id = str(uuid.uuid4()), str(uuid.uuid4())
    message = dramatiq.Message(
        queue_name="default", actor_name="noop", args=(job_id, tenant_id), kwargs={}, options={}
    )
    labels = {"job_type": "noop", "outcome": "completed"}
    before = metric("n8nops_job_duration_seconds_count", **labels)
    telemetry = JobTelemetry()
    telemetry.before_process_message(dramatiq.get_broker(), message)
    logging.getLogger("jobs.probe").info("inside a job")
    report_outcome("completed")
    telemetry.after_process_message(dramatiq.get_broker(), message)
    logging.getLogger("jobs.probe").info("after the job")
    inside, after = log_lines()
    assert (inside["job_id"], inside["job_type"], inside["tenant_id"]) == (
        job_id,
        "noop",
        tenant_id,
    )
    assert "job_id" not in after
    assert metric("n8nops_job_duration_seconds_count", **labels) == before + 1


def test_the_text_format_is_for_humans(log_lines):
    root = logging.getLogger()
    buffer = io.StringIO()
    logs.configure("INFO", process="clock", fmt="text", stream=buffer)
    logging.getLogger("clock").info("hello")
    assert buffer.getvalue().rstrip().endswith("INFO [clock] clock: hello")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.configure("INFO", process="clock", fmt="xml")
    assert root.handlers


def test_logs_never_hold_sql_parameters_or_the_rows_they_quote(app, tenant, log_lines):
    """A duplicate key's error names the value twice: in the statement's parameters and in
    PostgreSQL's DETAIL line (sent for tables without row-level security, like this one).
    Neither reaches a log line."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from models.db import db

    email = f"someone@{tenant.slug}.example"
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(text("CREATE TEMP TABLE probe (email text UNIQUE)"))
        insert = text("INSERT INTO probe VALUES (:e)")
        db.execute(insert, {"e": email})
        with pytest.raises(IntegrityError) as caught:
            db.execute(insert, {"e": email})
        db.rollback()
    assert "hide_parameters" in str(caught.value)
    assert f"=({email})" in str(caught.value)  # the server's DETAIL line quotes it
    logging.getLogger("tests").error("insert failed: %s", caught.value, exc_info=caught.value)
    (line,) = log_lines()
    assert email not in json.dumps(line)
    assert "withheld" in line["message"] and "withheld" in line["exc_info"]
