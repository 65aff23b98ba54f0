"""Every request pays at most one round trip to PostgreSQL beyond its own statements (the
COMMIT): BEGIN and the tenant setting ride with the first statement, and nothing pings.

Round trips are counted on the wire (libpq's protocol trace: each Sync or simple Query is one
wait for the server), statements by SQLAlchemy; so a regression fails here, not in a timing.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from psycopg import pq
from sqlalchemy import event

from models.db import get_engine

#: A frontend message the client then waits on: the end of an extended-protocol batch or a
#: simple query.
_WAIT = re.compile(r"^F\t\d+\t(Sync|Query)\b", re.M)


@dataclass
class Counts:
    statements: int = 0
    round_trips: int = 0


class Wire:
    """A libpq protocol trace of every connection the pool opens, and statement counts."""

    def __init__(self, trace) -> None:
        self.trace = trace
        self.statements = 0

    def on_connect(self, dbapi_connection, _record) -> None:
        dbapi_connection.pgconn.trace(self.trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    def on_statement(self, *_args) -> None:
        self.statements += 1

    @contextmanager
    def counted(self) -> Iterator[Counts]:
        """Count statements and round trips of the block."""
        counts, statements = Counts(), self.statements
        self.trace.seek(0, 2)
        start = self.trace.tell()
        yield counts
        self.trace.seek(start)
        counts.round_trips = len(_WAIT.findall(self.trace.read()))
        counts.statements = self.statements - statements


@pytest.fixture
def wire() -> Iterator[Wire]:
    """Traces start when connections open: the pool is emptied first, so reused connections
    (and whatever is done on checkout, such as a pre-ping) are on the trace too."""
    engine, trace = get_engine(), tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed below)
    wire = Wire(trace)
    engine.dispose()
    listeners = (
        (engine, "connect", wire.on_connect),
        (engine, "before_cursor_execute", wire.on_statement),
    )
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield wire
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)
        engine.dispose()
        wire.trace.close()


def _list_paths(app) -> list[str]:
    """Every GET operation of the OpenAPI that needs no path parameter."""
    spec = app.extensions["n8nops_api"].spec.to_dict()
    return sorted(
        path
        for path, operations in spec["paths"].items()
        if "get" in operations and "{" not in path and path.startswith("/api/")
    )


def test_every_list_endpoint_costs_its_statements_plus_the_commit(app, client, tenant, wire):
    paths = _list_paths(app)
    assert len(paths) >= 8, paths
    client.get("/api/v1/me", headers=tenant.viewer)  # the principal is cached from here on
    over = {}
    for path in paths:
        with wire.counted() as counts:
            response = client.get(path, headers=tenant.admin)
        assert response.status_code < 500, (path, response.json)
        if counts.round_trips > counts.statements + 1:
            over[path] = (counts.statements, counts.round_trips)
    assert over == {}, "path: (statements, round trips)"


@pytest.mark.parametrize("kind", ["job", "environment"])
def test_a_read_by_id_is_one_round_trip_per_statement_and_the_commit(
    client, tenant, environment, wire, kind
):
    if kind == "job":
        created = client.post("/api/v1/jobs/healthcheck", headers=tenant.admin).json
        path = f"/api/v1/jobs/{created['id']}"
    else:
        path = f"/api/v1/environments/{environment.id}"
    client.get(path, headers=tenant.viewer)
    with wire.counted() as counts:
        response = client.get(path, headers=tenant.viewer)
    assert response.status_code == 200
    assert counts.round_trips == counts.statements + 1, counts


def test_a_session_transaction_sends_begin_and_the_tenant_with_its_first_statement(tenant, wire):
    from sqlalchemy import text

    from models.db import db, tenant_scope

    with wire.counted() as counts, tenant_scope(tenant.id):
        seen = db.execute(text("SELECT current_setting('app.tenant_id', true)")).scalar()
        db.commit()
    assert seen == str(tenant.id)
    assert (counts.statements, counts.round_trips) == (1, 2)
