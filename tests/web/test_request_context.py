"""X-Request-ID: the client's when well-formed, else a new one; on every response, in the
body of a 500 and on the request's log lines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from services import logs


def test_a_well_formed_client_id_is_echoed(client, tenant):
    response = client.get("/api/v1/me", headers={**tenant.viewer, "X-Request-ID": "trace-42.a"})
    assert response.headers["X-Request-ID"] == "trace-42.a"


@pytest.mark.parametrize("offered", [None, "", "has space", "x" * 200, "<script>"])
def test_otherwise_one_is_generated_for_every_response(client, offered):
    headers = {} if offered is None else {"X-Request-ID": offered}
    first = client.get("/api/v1/me", headers=headers)  # a 401
    second = client.get("/api/v1/nothing-here", headers=headers)  # a 404
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2 and offered not in ids
    assert all(len(rid) == 32 for rid in ids)


def test_a_500_body_and_its_log_line_carry_the_id(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("internals")

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    logs.configure("INFO", process="web", stream=buffer)
    try:
        response = app.test_client().get("/boom", headers={"X-Request-ID": "quote-me"})
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert response.status_code == 500
    assert response.json["request_id"] == "quote-me" == response.headers["X-Request-ID"]
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    line = next(line for line in lines if line["message"] == "unhandled error")
    assert line["request_id"] == "quote-me"


def test_client_errors_do_not_carry_the_id_in_the_body(client):
    """4xx bodies stay comparable (a malformed id's 404 is byte for byte a missing one's)."""
    assert "request_id" not in client.get("/api/v1/me").json
