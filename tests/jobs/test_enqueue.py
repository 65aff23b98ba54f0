"""Jobs created together are sent together: one transaction per tenant, their records in one
statement; a message the broker refuses leaves only that job to the relay."""

from __future__ import annotations

import json

import dramatiq
from sqlalchemy import event, select

from jobs import core
from models.db import db, get_engine, reset_context, tenant_scope
from models.jobs import BackgroundJob


def _start_many(app, tenant_id, count: int) -> list:
    with app.app_context(), tenant_scope(tenant_id):
        ids = [core.start("noop").id for _ in range(count)]
        db.commit()
        reset_context()
    return ids


def _rows(app, tenant_id, ids) -> list[BackgroundJob]:
    with app.app_context(), tenant_scope(tenant_id):
        rows = list(db.scalars(select(BackgroundJob).where(BackgroundJob.id.in_(ids))))
        reset_context()
    return rows


def _queued_job_ids() -> set[str]:
    broker = dramatiq.get_broker()
    raw = broker.client.hvals(f"{broker.namespace}:default.msgs")
    return {json.loads(message)["args"][0] for message in raw}


def test_a_bulk_commit_sends_every_job_and_records_them_in_one_statement(app, tenant):
    updates = []

    def count(_conn, _cursor, statement, _params, _context, executemany):
        if statement.lstrip().upper().startswith("UPDATE BACKGROUND_JOBS"):
            updates.append(executemany)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        ids = _start_many(app, tenant.id, 40)
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    rows = _rows(app, tenant.id, ids)
    assert all(row.enqueued_at is not None and row.message_id for row in rows)
    assert len({row.message_id for row in rows}) == 40
    assert {str(i) for i in ids} <= _queued_job_ids()
    assert updates == [True]


def test_a_refused_message_leaves_only_its_job_unsent(app, tenant, monkeypatch):
    broker, refused = dramatiq.get_broker(), []
    send = broker.enqueue

    def flaky(message, **options):
        if not refused:
            refused.append(message.args[0])
            raise ConnectionError("broker down for one message")
        return send(message, **options)

    monkeypatch.setattr(broker, "enqueue", flaky)
    ids = _start_many(app, tenant.id, 5)
    unsent = [str(row.id) for row in _rows(app, tenant.id, ids) if row.enqueued_at is None]
    assert unsent == refused
