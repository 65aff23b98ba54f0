"""Live updates: the trigger announces each visible change once it commits, the hub hands it
to its tenant's subscribers only, and a reconnect replays what was missed."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest
from sqlalchemy import select, update

from models.db import db, reset_context, tenant_scope
from models.support import LiveWatch
from services import events, live
from tests.jobs.helpers import start_job


def next_change(subscriber: live.Subscriber, timeout: float = 10) -> dict:
    """The data of the next SSE frame the subscriber would send."""
    frame = subscriber.inbox.get(timeout=timeout).decode()
    return orjson.loads(frame.split("data: ", 1)[1])


def subscribe(app, tenant_id, job_id=None) -> live.Subscriber:
    with app.app_context():
        subscriber = live.Subscriber(tenant_id=tenant_id, job_id=job_id)
        live.hub().subscribe(subscriber)
    return subscriber


def cancel(app, client, tenant, job_id) -> None:
    response = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tenant.developer)
    assert response.status_code == 202


def test_a_committed_job_change_reaches_its_tenant_only(app, client, tenant, other_tenant):
    mine, theirs = subscribe(app, tenant.id), subscribe(app, other_tenant.id)
    try:
        job_id = start_job(app, tenant.id, params={"steps": 1})
        created = next_change(mine)
        assert created["kind"] == "job" and created["id"] == str(job_id)
        assert created["status"] == "pending" and created["progress"]["message"] == "queued"
        cancel(app, client, tenant, job_id)
        cancelled = next_change(mine)
        assert cancelled["status"] == "cancelled" and cancelled["seq"] > created["seq"]
        with pytest.raises(queue.Empty):
            theirs.inbox.get(timeout=0.5)
    finally:
        live.hub().unsubscribe(mine)
        live.hub().unsubscribe(theirs)


def test_a_rolled_back_change_announces_nothing(app, tenant):
    subscriber = subscribe(app, tenant.id)
    try:
        with app.app_context(), tenant_scope(tenant.id):
            events.record("drift.detected", resource_type="environment", resource_id="x")
            db.rollback()
            reset_context()
        with pytest.raises(queue.Empty):
            subscriber.inbox.get(timeout=0.5)
    finally:
        live.hub().unsubscribe(subscriber)


def test_a_job_subscriber_gets_that_job_only(app, client, tenant):
    first = start_job(app, tenant.id)
    subscriber = subscribe(app, tenant.id, job_id=first)
    try:
        start_job(app, tenant.id)
        cancel(app, client, tenant, first)
        # The first job's own announcements only (its creation may arrive late too).
        while (change := next_change(subscriber))["status"] != "cancelled":
            assert change["id"] == str(first)
        assert change["id"] == str(first)
        with pytest.raises(queue.Empty):
            subscriber.inbox.get(timeout=0.5)
    finally:
        live.hub().unsubscribe(subscriber)


def test_dispatch_never_crosses_tenants():
    hub = live.Hub("unused")
    a, b = live.Subscriber(tenant_id=uuid.uuid4()), live.Subscriber(tenant_id=uuid.uuid4())
    hub.by_tenant = {str(a.tenant_id): {a}, str(b.tenant_id): {b}}
    hub.dispatch(orjson.dumps({"seq": 1, "tenant_id": str(a.tenant_id), "kind": "job"}))
    assert a.inbox.qsize() == 1 and b.inbox.qsize() == 0


def read_messages(response, count: int) -> list[dict]:
    """The next ``count`` SSE messages with data, parsed; keep-alives and retry skipped."""
    found = []
    for chunk in response.response:
        fields = dict(
            line.split(": ", 1) for line in chunk.decode().strip().splitlines() if ": " in line
        )
        if "data" in fields:
            found.append({**fields, "data": orjson.loads(fields["data"])})
            if len(found) == count:
                return found
    raise AssertionError("the stream ended")


def test_the_job_stream_starts_with_the_state_then_follows(app, client, tenant):
    job_id = start_job(app, tenant.id)
    response = client.get(f"/api/v1/jobs/{job_id}/stream", headers=tenant.viewer, buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    (state,) = read_messages(response, 1)
    assert state["event"] == "job" and state["data"]["status"] == "pending"
    assert "tenant_id" not in state["data"]
    cancel(app, client, tenant, job_id)
    (change,) = read_messages(response, 1)
    assert change["data"]["status"] == "cancelled" and int(change["id"]) > int(state["id"])
    response.close()


def test_a_reconnect_replays_what_was_missed(app, client, tenant):
    first = start_job(app, tenant.id)
    response = client.get(f"/api/v1/jobs/{first}/stream", headers=tenant.viewer, buffered=False)
    (seen,) = read_messages(response, 1)
    response.close()
    cancel(app, client, tenant, first)
    second = start_job(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        events.record("drift.detected", resource_type="environment", resource_id="e1")
        db.commit()
        reset_context()
    headers = {**tenant.viewer, "Last-Event-ID": seen["id"]}
    again = client.get("/api/v1/events/stream", headers=headers, buffered=False)
    replayed = read_messages(again, 3)
    again.close()
    assert [(m["event"], m["data"]["id"]) for m in replayed[:2]] == [
        ("job", str(first)),
        ("job", str(second)),
    ]
    assert replayed[0]["data"]["status"] == "cancelled"
    assert replayed[2]["event"] == "event" and replayed[2]["data"]["event_type"] == "drift.detected"
    ids = [int(m["id"]) for m in replayed]
    assert ids == sorted(ids) and ids[0] > int(seen["id"])


def test_streams_follow_the_api_rules(client, tenant, other_tenant, app):
    theirs = start_job(app, other_tenant.id)
    assert client.get("/api/v1/events/stream").status_code == 401
    assert client.get(f"/api/v1/jobs/{theirs}/stream", headers=tenant.viewer).status_code == 404


def test_a_stream_closed_before_its_first_byte_unsubscribes(app, client, tenant):
    response = client.get("/api/v1/events/stream", headers=tenant.viewer, buffered=False)
    assert any(str(tenant.id) == key for key in live.hub().by_tenant)
    response.close()
    assert str(tenant.id) not in live.hub().by_tenant


def test_a_subscriber_that_falls_behind_is_cut_off(monkeypatch):
    monkeypatch.setattr(live, "MAX_BACKLOG", 2)
    hub = live.Hub("unused")
    slow = live.Subscriber(tenant_id=uuid.uuid4())
    hub.by_tenant = {str(slow.tenant_id): {slow}}
    for seq in range(4):
        hub.dispatch(orjson.dumps({"seq": seq, "tenant_id": str(slow.tenant_id), "kind": "job"}))
    assert slow.ended and not hub.by_tenant
    assert [slow.inbox.get() is None for _ in range(3)] == [False, False, True]


def test_ending_the_streams_closes_them_at_once(app, client, tenant):
    response = client.get("/api/v1/events/stream", headers=tenant.viewer, buffered=False)
    chunks = iter(response.response)
    assert next(chunks).startswith(b"retry:")
    live.end_streams()
    assert list(chunks) == []  # ended without waiting for a keep-alive
    assert str(tenant.id) not in live.hub().by_tenant
    response.close()


def announcements(dsn: str):
    """A connection listening on the live channel, as a test would see the announcements."""
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(f"LISTEN {live.CHANNEL}")
    return conn


def watch_row(app, tenant_id):
    with app.app_context(), tenant_scope(tenant_id):
        until = db.scalar(select(LiveWatch.watched_until))
        reset_context()
    return until


def test_an_unwatched_tenant_is_numbered_but_not_announced(app, tenant):
    with app.app_context():
        listener = announcements(live.hub().dsn)
    try:
        job_id = start_job(app, tenant.id)
        assert list(listener.notifies(timeout=0.5)) == []
        with app.app_context(), tenant_scope(tenant.id):
            assert [change["id"] for change in live.missed(0)] == [str(job_id)]
            reset_context()
    finally:
        listener.close()


def test_a_stream_watches_its_tenant_until_the_watch_lapses(app, tenant):
    subscriber = subscribe(app, tenant.id)
    live.hub().unsubscribe(subscriber)
    until = watch_row(app, tenant.id)
    assert until > datetime.now(UTC) + timedelta(seconds=live.WATCH_TTL_S - 10)
    with app.app_context():
        listener = announcements(live.hub().dsn)
    try:
        start_job(app, tenant.id)
        assert len(list(listener.notifies(timeout=5, stop_after=1))) == 1
        with app.app_context(), tenant_scope(tenant.id):
            db.execute(update(LiveWatch).values(watched_until=datetime.now(UTC)))
            db.commit()
            reset_context()
        start_job(app, tenant.id)
        assert list(listener.notifies(timeout=0.5)) == []
    finally:
        listener.close()
        live.hub().watched.clear()  # the lapsed watch is this hub's no longer


def test_a_new_watch_waits_for_a_change_that_did_not_see_it(app, tenant):
    """A change made before the watch existed, committed after: the subscriber's first read
    (here, the replay) happens after that commit, so it is not lost between the two."""
    job_id = start_job(app, tenant.id)
    live.hub().watched.pop(str(tenant.id), None)
    with app.app_context():
        writer = psycopg.connect(live.hub().dsn)
    writer.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant.id),))
    writer.execute("UPDATE background_jobs SET progress = '{}' WHERE id = %s", (job_id,))
    committed = threading.Timer(0.3, writer.commit)
    committed.start()
    began = time.monotonic()
    subscriber = subscribe(app, tenant.id)
    try:
        assert time.monotonic() - began >= 0.25
        with app.app_context(), tenant_scope(tenant.id):
            (change,) = live.missed(0)
            reset_context()
        assert change["progress"] == {}
    finally:
        committed.join()
        writer.close()
        live.hub().unsubscribe(subscriber)


def test_a_deleted_tenant_is_no_longer_watched(app):
    """Its streams may still be open when a tenant goes: renewing their watch skips it."""
    hub = live.hub()
    with app.app_context():
        conn = psycopg.connect(hub.dsn, autocommit=True)
    try:
        hub._watch(conn, [str(uuid.uuid4())])  # no such tenant: nothing to watch, no error
    finally:
        conn.close()
