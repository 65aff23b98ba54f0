"""Errors of dependencies in the one error shape: Redis down is a 503, never a 500."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def without_redis(make_app, closed_port):
    return make_app(redis_url=f"redis://127.0.0.1:{closed_port}/0").test_client()


def test_an_endpoint_that_reaches_redis_answers_503_when_it_is_down(make_app, closed_port, tenant):
    """Job stats come from PostgreSQL now; any view whose Redis call fails (here one that
    pings the app's own client, pointed at a closed port) gets the error shape, not a 500."""
    app = make_app(redis_url=f"redis://127.0.0.1:{closed_port}/0")
    app.add_url_rule("/api/v1/ping-broker", view_func=app.extensions["n8nops_redis"].ping)
    response = app.test_client().get("/api/v1/ping-broker", headers=tenant.viewer)
    assert response.status_code == 503
    assert response.json["error"] == "unavailable"
    assert "Redis" in response.json["message"]
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Request-ID"] == response.json["request_id"]


def test_starting_a_job_with_redis_down_still_records_it(without_redis, tenant):
    """The job row is the truth; the relay sends its message once Redis is back."""
    response = without_redis.post("/api/v1/jobs/healthcheck", headers=tenant.admin)
    assert response.status_code == 202
    job = without_redis.get(f"/api/v1/jobs/{response.json['id']}", headers=tenant.viewer)
    assert job.json["status"] == "pending"
