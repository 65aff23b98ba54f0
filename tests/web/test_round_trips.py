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
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

import models
from models.db import get_engine
from services import identity
from tests.rowgen import RowBuilder
from tests.web.world import ID_PARAMETERS, build_world, operations

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


def test_a_read_by_id_is_one_round_trip_per_statement_and_the_commit(
    client, tenant, environment, wire
):
    path = f"/api/v1/environments/{environment.id}"
    client.get(path, headers=tenant.viewer)
    with wire.counted() as counts:
        response = client.get(path, headers=tenant.viewer)
    assert response.status_code == 200
    assert counts.round_trips == counts.statements + 1, counts


def test_polling_a_job_is_one_statement_in_one_round_trip(client, tenant, wire):
    """The tenant setting, the job's read and the end of its transaction travel together
    (models.db.read_alone): no BEGIN, no COMMIT."""
    created = client.post("/api/v1/jobs/healthcheck", headers=tenant.admin).json
    path = f"/api/v1/jobs/{created['id']}"
    client.get(path, headers=tenant.viewer)  # the principal is cached from here on
    with wire.counted() as counts:
        response = client.get(path, headers=tenant.viewer)
    assert response.status_code == 200
    assert (counts.statements, counts.round_trips) == (1, 1), counts


def test_a_session_transaction_sends_begin_and_the_tenant_with_its_first_statement(tenant, wire):
    from sqlalchemy import text

    from models.db import db, tenant_scope

    with wire.counted() as counts, tenant_scope(tenant.id):
        seen = db.execute(text("SELECT current_setting('app.tenant_id', true)")).scalar()
        db.commit()
    assert seen == str(tenant.id)
    assert (counts.statements, counts.round_trips) == (1, 2)


#: Rows added of every tenant table (children hang off the world's objects) between the two
#: counts: an endpoint that reads per row runs this many statements more.
MORE_ROWS = 3
#: Most statements a GET may run, the tenant's and principal's reads included; raise one only
#: with the reason beside it.
DEFAULT_STATEMENT_BOUND = 6
STATEMENT_BOUNDS: dict[str, int] = {}
#: Required query parameters that name an object: the path parameter naming the same kind.
QUERY_IDS = {"environment_id": "env_id", "anchor_id": "env_id"}
#: Paths whose generic objects a rule refuses (a side or a commit in Git, an onboarding run, a
#: pipeline stage): the statements up to the refusal are counted. To
#: do: real objects for them (tests/api_world.py builds some).
REFUSED = {
    "/api/v1/canonical-workflows/{canonical_id}/diff": 404,
    "/api/v1/canonical-workflows/{canonical_id}/content": 404,
    "/api/v1/canonical-workflows/onboarding": 404,
    "/api/v1/promotions/{promotion_id}/diff": 400,
}
#: Required query parameters a schema's example cannot fill, by path (ids by parameter name).
QUERIES = {
    "/api/v1/canonical-workflows/{canonical_id}/diff": {
        "left": "env:{env_id}",
        "right": "git:{env_id}",
    },
}


def _statements(client, wire, world, operation, headers) -> tuple[int, str | None]:
    """Statements of one call of ``operation`` (after one that warms caches), and what was
    wrong if it did not answer 200."""
    url = world.url(operation.path)
    query = {
        name: str(world.ids.get(QUERY_IDS.get(name, name), value))
        for name, value in operation.example_query().items()
    }
    query.update(
        {name: value.format(**world.ids) for name, value in QUERIES.get(operation.path, {}).items()}
    )
    # A stream replays from the start (what a reconnecting client missed), then is closed.
    headers = {**headers, "Last-Event-ID": "0"}
    client.get(url, query_string=query, headers=headers).close()
    with wire.counted() as counts:
        response = client.get(url, query_string=query, headers=headers)
    response.close()
    if response.status_code != REFUSED.get(operation.path, 200):
        return counts.statements, f"{response.status_code} {response.get_json(silent=True)}"
    return counts.statements, None


def _more_rows(world, times: int) -> None:
    """``times`` more rows of every tenant table, pointing at the world's objects; a table
    that takes one row per parent (a unique key) keeps what it has."""
    tables = [t for t in models.Base.metadata.sorted_tables if "tenant_id" in t.columns]
    with get_engine().begin() as conn:
        conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.tenant_id)}
        )
        builder = RowBuilder(conn, world.tenant_id)
        for parameter, table in ID_PARAMETERS.items():
            builder.rows[table] = [{"id": world.ids[parameter]}]
        for table in tables:
            for _ in range(times):
                kept = {name: list(rows) for name, rows in builder.rows.items()}
                try:
                    with conn.begin_nested():
                        builder.build(table)
                except IntegrityError:
                    builder.rows = kept
                    break


def test_no_get_endpoint_runs_more_statements_as_rows_grow(
    app, client, tenant, environment, wire, monkeypatch
):
    # The principal stays cached for the whole walk (a slow machine takes longer than its
    # seconds), so no count carries its read and another's not.
    monkeypatch.setattr(identity, "PRINCIPAL_CACHE_S", 3600.0)
    world = build_world(tenant.id, env_id=environment.id)
    gets = [operation for operation in operations(app) if operation.method == "get"]
    assert len(gets) >= 50, len(gets)
    client.get("/api/v1/me", headers=tenant.viewer)  # the principal is cached from here on
    one = {op.path: _statements(client, wire, world, op, tenant.admin) for op in gets}
    _more_rows(world, MORE_ROWS)
    more = {op.path: _statements(client, wire, world, op, tenant.admin) for op in gets}
    refused = {path: wrong for path, (_, wrong) in {**one, **more}.items() if wrong}
    assert not refused, "give their objects a builder in tests/web/world.py:\n" + "\n".join(
        f"GET {path}: {wrong}" for path, wrong in refused.items()
    )
    one, more = ({path: n for path, (n, _) in counts.items()} for counts in (one, more))
    grown = {path: (one[path], more[path]) for path in one if more[path] > one[path]}
    assert grown == {}, "path: (statements with one row, with more)"
    over = {
        path: count
        for path, count in more.items()
        if count > STATEMENT_BOUNDS.get(path, DEFAULT_STATEMENT_BOUND)
    }
    assert over == {}, "path: statements"
