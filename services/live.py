"""Live updates for browsers and API clients: Server-Sent Events fed by PostgreSQL.

One source of change: a trigger (migration i15_live) numbers every visible change of a job
and every notification event from one sequence and announces it with NOTIFY on
``n8nops_live``, in the transaction of the change, so an announcement exists exactly when the
change committed. Each process holds one LISTEN connection (``Hub``) and hands each
announcement to the subscribers of its tenant. A reconnecting client sends the last number it
saw (Last-Event-ID); what it missed is read back from the tables, which hold each row's latest
state: every message is a state, so a repeated one is harmless.

Only watched tenants are announced (migration i13f_live_watches): a NOTIFY holds PostgreSQL's
one notification lock until its commit is flushed, which serialized every job transition of
every tenant. A hub keeps a watch (live_watches) on each tenant it has streams for, renewed
while they are open.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field

import orjson
import psycopg
from sqlalchemy import select

from models.db import SET_TENANT_SQL, current_tenant, db
from models.jobs import BackgroundJob
from models.support import NotificationEvent

log = logging.getLogger(__name__)

CHANNEL = "n8nops_live"
#: Seconds between keep-alive comments: proxies and browsers keep a quiet stream open, and a
#: vanished client is noticed by the failed write.
KEEPALIVE_S = 15.0
#: Most missed changes one reconnect replays (the rest: the page reloads its lists).
MAX_REPLAY = 500
#: Announcements one slow subscriber may have waiting before it is cut off (it reconnects and
#: replays from the tables).
MAX_BACKLOG = 1000
#: Seconds before the listener connects again after losing its connection.
RECONNECT_S = 1.0
#: Milliseconds a browser waits before reconnecting (the SSE ``retry`` field).
RETRY_MS = 2000
#: Seconds a watch keeps a tenant announced: a process that dies stops announcing within it.
WATCH_TTL_S = 60.0
#: Seconds between a hub's renewals of its tenants' watches.
WATCH_RENEW_S = WATCH_TTL_S / 3
#: Longest a new watch waits for the transactions older than it, and how often it looks, in
#: seconds (they commit in milliseconds; a stuck one must not hold a stream up).
SETTLE_MAX_S = 1.0
SETTLE_POLL_S = 0.005

_WATCH = """
    INSERT INTO live_watches AS w (tenant_id, watched_until)
    VALUES (%(tenant)s, now() + make_interval(secs => %(ttl)s))
        ON CONFLICT (tenant_id)
        DO UPDATE SET watched_until = greatest(w.watched_until, excluded.watched_until)
"""
_HORIZON = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text"
_OLDER_RUNNING = "SELECT pg_snapshot_xmin(pg_current_snapshot()) < %s::xid8"


@dataclass(eq=False)
class Subscriber:
    """One open stream: a tenant's changes, or one job's."""

    tenant_id: uuid.UUID
    job_id: uuid.UUID | None = None
    #: SSE frames to send, formatted once by the hub.
    inbox: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    #: Cut off (it fell behind) or ended (the process stops): the stream closes.
    ended: bool = False

    def wants(self, change: dict) -> bool:
        return self.job_id is None or change.get("id") == str(self.job_id)


class Hub:
    """This process's LISTEN connection and its subscribers, by tenant."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.lock = threading.Lock()
        self.by_tenant: dict[str, set[Subscriber]] = {}
        #: Until when (time.monotonic) this hub's last watch of each tenant holds.
        self.watched: dict[str, float] = {}
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        tenant = str(subscriber.tenant_id)
        with self.lock:
            self.by_tenant.setdefault(tenant, set()).add(subscriber)
            if self.thread is None:
                self.thread = threading.Thread(target=self._listen, name="live-hub", daemon=True)
                self.thread.start()
            watched = self.watched.get(tenant, 0.0) > time.monotonic() + WATCH_RENEW_S
        if not watched:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                self._watch(conn, [tenant])
                settle(conn)
        # Changes after this point reach the subscriber; earlier ones come from the replay.
        self.ready.wait(timeout=10)

    def _watch(self, conn: psycopg.Connection, tenants: list[str]) -> None:
        """Have these tenants' changes announced for WATCH_TTL_S more."""
        for tenant in tenants:
            # A tenant deleted under its open streams has nothing left to announce.
            with suppress(psycopg.errors.ForeignKeyViolation), conn.transaction():
                conn.execute(SET_TENANT_SQL, (tenant,))
                conn.execute(_WATCH, {"tenant": tenant, "ttl": WATCH_TTL_S})
        with self.lock:
            self.watched.update(dict.fromkeys(tenants, time.monotonic() + WATCH_TTL_S))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self.lock:
            tenant = self.by_tenant.get(str(subscriber.tenant_id))
            if tenant is not None:
                tenant.discard(subscriber)
                if not tenant:
                    del self.by_tenant[str(subscriber.tenant_id)]

    def end(self, subscriber: Subscriber) -> None:
        """Close a stream: it stops at once (a client reconnects and replays what it missed)."""
        subscriber.ended = True
        subscriber.inbox.put(None)
        self.unsubscribe(subscriber)

    def end_all(self) -> None:
        """Close every stream, so a stopping web worker need not wait for its clients."""
        with self.lock:
            subscribers = [s for tenant in self.by_tenant.values() for s in tenant]
        for subscriber in subscribers:
            self.end(subscriber)

    def dispatch(self, payload: str) -> None:
        """Hand one announcement to its tenant's subscribers (never another tenant's)."""
        change = orjson.loads(payload)
        with self.lock:
            subscribers = list(self.by_tenant.get(change["tenant_id"], ()))
        frame = message(change)  # once, however many streams send it
        for subscriber in subscribers:
            if not subscriber.wants(change):
                continue
            if subscriber.inbox.qsize() >= MAX_BACKLOG:
                self.end(subscriber)
                continue
            subscriber.inbox.put(frame)

    def _listen(self) -> None:
        while True:
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.ready.set()
                    while True:
                        for notice in conn.notifies(timeout=WATCH_RENEW_S):
                            self.dispatch(notice.payload)
                        with self.lock:
                            tenants = list(self.by_tenant)
                        self._watch(conn, tenants)
            except Exception:  # the connection dropped: listen again while anyone listens
                self.ready.clear()
                with self.lock:
                    if not self.by_tenant:
                        self.thread = None  # the next subscriber starts another
                        return
                log.exception("live updates: listening failed; connecting again")
                time.sleep(RECONNECT_S)


def settle(conn: psycopg.Connection) -> None:
    """Wait until every transaction running when a watch committed has ended: one may have
    changed a row without seeing the watch (the trigger takes its transaction id before it
    looks), and must commit before the stream reads what it starts with."""
    (horizon,) = conn.execute(_HORIZON).fetchone()
    deadline = time.monotonic() + SETTLE_MAX_S
    while conn.execute(_OLDER_RUNNING, (horizon,)).fetchone()[0]:
        if time.monotonic() > deadline:
            log.warning("live updates: a transaction older than a new watch is still running")
            return
        time.sleep(SETTLE_POLL_S)


#: Each process's hub, by process id: a forked child never uses its parent's connection.
_hubs: dict[int, Hub] = {}
_hubs_lock = threading.Lock()


def end_streams() -> None:
    """Close this process's open streams (its web worker is stopping)."""
    with _hubs_lock:
        found = _hubs.get(os.getpid())
    if found is not None:
        found.end_all()


def hub() -> Hub:
    """This process's hub (created on first use)."""
    with _hubs_lock:
        found = _hubs.get(os.getpid())
        if found is None:
            url = db.get_bind().url.set(drivername="postgresql")
            found = _hubs[os.getpid()] = Hub(url.render_as_string(hide_password=False))
        return found


def job_change(job: BackgroundJob) -> dict:
    """What an announcement of ``job`` carries (the trigger's fields)."""
    return {
        "seq": job.live_seq,
        "tenant_id": str(job.tenant_id),
        "kind": "job",
        "id": str(job.id),
        "job_type": job.job_type,
        "status": job.status,
        "attempt": job.attempt,
        "resource_type": job.resource_type,
        "resource_id": str(job.resource_id) if job.resource_id else None,
        "cancel_requested": job.cancel_requested_at is not None,
        "progress": job.progress,
    }


def _event_change(event: NotificationEvent) -> dict:
    return {
        "seq": event.live_seq,
        "tenant_id": str(event.tenant_id),
        "kind": "event",
        "id": str(event.id),
        "event_type": event.event_type,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
    }


def missed(after: int, *, job_id: uuid.UUID | None = None) -> list[dict]:
    """The current tenant's changes numbered past ``after``, oldest first (each row's latest
    state; at most MAX_REPLAY)."""
    tenant = current_tenant()
    jobs = (
        select(BackgroundJob)
        .where(BackgroundJob.tenant_id == tenant, BackgroundJob.live_seq > after)
        .order_by(BackgroundJob.live_seq)
        .limit(MAX_REPLAY)
    )
    if job_id is not None:
        jobs = jobs.where(BackgroundJob.id == job_id)
    changes = [job_change(job) for job in db.scalars(jobs)]
    if job_id is None:
        events = (
            select(NotificationEvent)
            .where(NotificationEvent.tenant_id == tenant, NotificationEvent.live_seq > after)
            .order_by(NotificationEvent.live_seq)
            .limit(MAX_REPLAY)
        )
        changes += [_event_change(event) for event in db.scalars(events)]
    return sorted(changes, key=lambda change: change["seq"])[:MAX_REPLAY]


def message(change: dict) -> bytes:
    """One SSE message: its number as the id, its kind as the event name, JSON data."""
    data = {key: value for key, value in change.items() if key != "tenant_id"}
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (
        change["seq"],
        change["kind"].encode(),
        orjson.dumps(data),
    )


class Stream:
    """The body of an event stream: ``first`` (the replay or the current state), then each
    change as it commits, with keep-alive comments. Closing it (the server does when the
    client goes away, even before the first byte) ends the subscription."""

    def __init__(self, subscriber: Subscriber, first: list[dict]) -> None:
        self.subscriber = subscriber
        self.first = first

    def __iter__(self) -> Iterator[bytes]:
        yield b"retry: %d\n\n" % RETRY_MS
        for change in self.first:
            yield message(change)
        while not self.subscriber.ended:
            try:
                frame = self.subscriber.inbox.get(timeout=KEEPALIVE_S)
            except queue.Empty:
                yield b": keep-alive\n\n"
                continue
            if frame is not None:
                yield frame

    def close(self) -> None:
        hub().unsubscribe(self.subscriber)
