"""Metrics of requests, jobs, n8n calls, the relay, the reaper and the queues; header limits
answered in the API's error shape."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import dramatiq
import pytest

from jobs import attempts, maintenance
from services import metrics
from services.n8n import N8nClient, N8nServerError
from tests.jobs.helpers import read_job, start_job, wait_for
from tests.jobs.test_lifecycle import _backdate_heartbeat

REQUESTS = "n8nops_http_request_duration_seconds_count"
NAME = "n8nops_n8n_request_duration_seconds"


def test_requests_are_counted_by_route_and_status(client, tenant, metric):
    ok = {"method": "GET", "route": "/api/v1/me", "status": "200"}
    refused = {**ok, "status": "401"}
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    before = {
        key: metric(REQUESTS, **labels)
        for key, labels in (("ok", ok), ("refused", refused), ("unmatched", unmatched))
    }
    client.get("/api/v1/me", headers=tenant.viewer)
    client.get("/api/v1/me")
    client.get("/no/such/path/4242")
    assert metric(REQUESTS, **ok) == before["ok"] + 1
    assert metric(REQUESTS, **refused) == before["refused"] + 1
    assert metric(REQUESTS, **unmatched) == before["unmatched"] + 1


def test_metrics_are_not_served_on_the_api_port(client):
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize(
    ("headers", "path", "status"),
    [
        ({f"X-Extra-{i}": "1" for i in range(70)}, "/api/v1/me", 431),
        ({"X-Big": "a" * 9_000}, "/api/v1/me", 431),
        ({f"X-Part-{i}": "a" * 6_000 for i in range(3)}, "/api/v1/me", 431),
        ({}, "/api/v1/me?q=" + "a" * 5000, 414),
    ],
)
def test_oversized_requests_get_the_api_error_shape(client, headers, path, status):
    response = client.get(path, headers=headers)
    assert response.status_code == status
    assert set(response.json) >= {"code", "status", "error", "message"}
    assert response.json["code"] == status


def test_n8n_calls_are_timed_by_environment_class_and_outcome(fake_n8n, metric):
    ok = {"environment_class": "staging", "endpoint": "workflows", "outcome": "ok"}
    failed = {**ok, "outcome": "N8nServerError"}
    before_ok, before_failed = metric(f"{NAME}_count", **ok), metric(f"{NAME}_count", **failed)
    with N8nClient(
        fake_n8n.url,
        fake_n8n.api_key,
        allow_private=True,
        environment_class="staging",
        max_retries=0,
    ) as client:
        list(client.iter_workflows())
        fake_n8n.fail_next(500)
        with pytest.raises(N8nServerError):
            list(client.iter_workflows())
    assert metric(f"{NAME}_count", **ok) == before_ok + 1
    assert metric(f"{NAME}_count", **failed) == before_failed + 1


def test_relay_and_reaper_actions_are_counted(app, tenant, metric):
    start_job(app, tenant.id)  # pending; no worker runs here
    sent_before = metric("n8nops_relay_sent_jobs_total")
    sent = maintenance.relay(older_than_s=-1, check_after_s=-1, resend_after_s=-1)
    assert sent >= 1
    assert metric("n8nops_relay_sent_jobs_total") == sent_before + sent

    job_id = start_job(app, tenant.id, params={"steps": 1})
    attempts.claim(job_id, tenant.id, message_id=None)
    _backdate_heartbeat(app, tenant.id, job_id, 3600)
    requeued_before = metric("n8nops_reaper_jobs_total", action="requeued")
    report = maintenance.reap()
    assert job_id in report.requeued
    assert read_job(app, tenant.id, job_id).status == "pending"
    requeued = metric("n8nops_reaper_jobs_total", action="requeued")
    assert requeued == requeued_before + len(report.requeued)


def test_job_outcomes_are_counted_by_kind(app, tenant, worker, metric):
    labels = {"job_type": "noop", "outcome": "completed"}
    before = metric("n8nops_job_duration_seconds_count", **labels)
    wait_for(app, tenant.id, start_job(app, tenant.id))
    assert metric("n8nops_job_duration_seconds_count", **labels) >= before + 1


def test_queue_depth_counts_messages_not_done(app, tenant):
    broker = dramatiq.get_broker()
    broker.flush_all()
    start_job(app, tenant.id)  # enqueued after commit, and no worker takes it
    (family,) = metrics.QueueDepth(broker).collect()
    depth = {sample.labels["queue"]: sample.value for sample in family.samples}
    assert depth["default"] >= 1
    assert set(depth) == broker.get_declared_queues()
    broker.flush_all()


def test_metrics_are_created_once_when_threads_race_to_the_first_use(monkeypatch):
    created = []

    class Slow:
        def __init__(self):
            created.append(self)
            time.sleep(0.05)  # a second thread arrives while the first still builds

    monkeypatch.setattr(metrics, "_metrics", None)
    monkeypatch.setattr(metrics, "Metrics", Slow)
    with ThreadPoolExecutor(8) as pool:
        got = set(pool.map(lambda _: id(metrics.get()), range(8)))
    assert len(created) == 1 and got == {id(created[0])}
