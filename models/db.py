"""Engine, the scoped session and the tenant context that row-level security reads.

The tenant is a context variable filled by the request's authenticated user or the job's
tenant. Every transaction starts with ``set_config('app.tenant_id', <tenant>, true)``, so
PostgreSQL's policies see exactly that tenant for that transaction; with none set they see
nothing.

A session's transaction costs no round trip of its own: sessions run on the driver's
autocommit connection and open the transaction themselves, in psycopg's pipeline mode, so
BEGIN, the tenant setting and the first statement reach the server together (psycopg's own
BEGIN would take one round trip, and the setting another). The pipeline ends as soon as that
statement has run; COMMIT or ROLLBACK end the transaction as usual. A read that stands alone
(``read_alone``) skips BEGIN and COMMIT too: with the tenant setting, it is a transaction of
its own up to the pipeline's end. Everything else on the engine (``get_engine()``) keeps the
driver's ordinary transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar

import orjson
import psycopg
import sqlalchemy.exc
from sqlalchemy import Connection, Engine, Executable, RowMapping, create_engine, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from models import cooperative_wait

_tenant: ContextVar[uuid.UUID | None] = ContextVar("tenant_id", default=None)

_SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant, true)")
#: The transaction-local tenant setting as driver SQL (one %s: the tenant id), for raw connections.
SET_TENANT_SQL = "SELECT set_config('app.tenant_id', %s, true)"
#: Connection.info key of the pipeline a transaction's first statement rides in.
_PIPELINE = "n8nops_first_statement_pipeline"

SessionFactory = sessionmaker(expire_on_commit=False)
#: The session of the current thread (a request or an actor's message); removed after each.
db = scoped_session(SessionFactory)


class UnsafeDatabaseRole(RuntimeError):
    """The app connected as a role that could bypass row-level security."""


def _json(value: object) -> str:
    # orjson: pages of cached workflow definitions serialise several times faster.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


#: libpq options of every connection the processes open: give up connecting after 5 s, and
#: notice a peer that vanished (host down, network cut) within about 20 s instead of the
#: kernel's two hours, so a statement never waits forever on a dead server.
CONNECT_ARGS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 2,
}


#: Seconds after which a pooled connection is replaced rather than reused: with no pre-ping
#: round trip on every checkout, this bounds how long a connection a server or proxy dropped
#: quietly can sit in the pool (one that failed is invalidated with its pool at once).
POOL_RECYCLE_S = 300


def init_engine(url: str, **options: object) -> Engine:
    """Create the engine the processes use and bind the session factory to it."""
    cooperative_wait.install()
    options.setdefault("pool_pre_ping", False)
    options.setdefault("pool_recycle", POOL_RECYCLE_S)
    # Parameters (ciphertexts, emails, token hashes) never reach an exception text or a log.
    options.setdefault("hide_parameters", True)
    options.setdefault("connect_args", CONNECT_ARGS)
    options.setdefault("json_serializer", _json)
    engine = create_engine(url, **options)
    for name in ("after_cursor_execute", "handle_error", "commit", "rollback"):
        event.listen(engine, name, _end_pipeline)
    SessionFactory.configure(bind=engine.execution_options(isolation_level="AUTOCOMMIT"))
    return engine


def _end_pipeline(context: Connection | ExceptionContext, *_args) -> None:
    # Called with a Connection (cursor, commit, rollback events) or an exception context.
    connection = context.connection if isinstance(context, ExceptionContext) else context
    if connection is None or connection.invalidated:
        return
    pipeline = connection.info.pop(_PIPELINE, None)
    if pipeline is not None:
        # Syncs: the queued BEGIN, setting and statement are sent and their results read.
        pipeline.__exit__(None, None, None)


def get_engine() -> Engine:
    """The engine init_engine made; for short transactions outside the request's session."""
    bound = SessionFactory.kw["bind"]
    # Sessions are bound to an autocommit view of the engine (its options over the same
    # pool); SQLAlchemy offers no public way back from the view to the engine.
    return getattr(bound, "_proxied", bound)


def current_tenant() -> uuid.UUID | None:
    return _tenant.get()


def _apply_tenant(connection: Connection) -> None:
    tenant = _tenant.get()
    connection.execute(_SET_TENANT, {"tenant": str(tenant) if tenant else ""})


@event.listens_for(Session, "after_begin")
def _set_tenant_for_transaction(session: Session, transaction, connection: Connection) -> None:
    _open_pipeline(connection, begin=True)


def _open_pipeline(connection: Connection, *, begin: bool) -> None:
    """Queue BEGIN (``begin``) and this context's tenant in a pipeline that the connection's
    next statement joins; _end_pipeline sends them together once that statement has run."""
    driver = connection.connection.driver_connection
    if not isinstance(driver, psycopg.Connection) or _PIPELINE in connection.info:
        return
    pipeline = driver.pipeline()
    pipeline.__enter__()
    connection.info[_PIPELINE] = pipeline
    try:
        if begin:
            driver.execute("BEGIN")
        # Without a tenant there is nothing to set: the setting is only ever set transaction-
        # locally, so a new transaction starts without one (and policies see nothing).
        if (tenant := _tenant.get()) is not None:
            driver.execute(SET_TENANT_SQL, [str(tenant)])
    except psycopg.Error as error:
        # Sent outside SQLAlchemy's execution, so its handling is done here: the connection
        # is dropped (and with a lost server, the pool's other connections) and the error
        # is SQLAlchemy's, like any statement's.
        connection.info.pop(_PIPELINE, None)
        with suppress(psycopg.Error):
            pipeline.__exit__(None, None, None)
        lost = driver.closed or driver.broken
        connection.invalidate(error)
        if lost:
            connection.engine.dispose(close=False)
        raise sqlalchemy.exc.DBAPIError.instance(
            "BEGIN", None, error, psycopg.Error, connection_invalidated=lost
        ) from error


def read_alone(statement: Executable, params: dict) -> Sequence[RowMapping]:
    """The rows of one read, run as a transaction of its own unless this context's session
    has one open (then in that one, like any statement).

    On its own, the tenant setting and the statement are pipelined on an autocommit
    connection: PostgreSQL runs everything up to the pipeline's sync as one implicit
    transaction, so the setting (transaction-local) holds for the statement and the sync
    ends it. One round trip, no BEGIN and no COMMIT; for a read that needs no other
    statement's snapshot (polling a job).
    """
    if db.registry.has() and db().in_transaction():
        return db.execute(statement, params).mappings().all()
    with SessionFactory.kw["bind"].connect() as connection:
        _open_pipeline(connection, begin=False)
        return connection.execute(statement, params).mappings().all()


def _sync_open_transaction() -> None:
    # Only a session this thread already has can hold an open transaction; creating one
    # just to look would cost every job and request a session it may never use.
    if db.registry.has() and db().in_transaction():
        _apply_tenant(db().connection())


def bind_tenant(tenant_id: uuid.UUID) -> None:
    """Make ``tenant_id`` this context's tenant, including in a transaction already open."""
    _tenant.set(tenant_id)
    _sync_open_transaction()


def adopt_tenant(tenant_id: uuid.UUID) -> None:
    """Record ``tenant_id`` as this context's tenant when the open transaction already runs
    as it (the authentication functions set it), saving a round trip."""
    _tenant.set(tenant_id)


@contextmanager
def tenant_scope(tenant_id: uuid.UUID | None) -> Iterator[None]:
    """Run a block as ``tenant_id`` and restore the previous tenant afterwards."""
    token = _tenant.set(tenant_id)
    _sync_open_transaction()
    try:
        yield
    finally:
        _tenant.reset(token)
        _sync_open_transaction()


def reset_context() -> None:
    """End the current unit of work: roll back what was not committed, forget the tenant."""
    db.remove()
    _tenant.set(None)


def check_app_role(engine: Engine) -> None:
    """Refuse to run as a role that is a superuser, bypasses RLS or owns tables."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT r.rolname, r.rolsuper, r.rolbypassrls,"
                " (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid"
                "   AND c.relnamespace = 'public'::regnamespace) AS owned"
                " FROM pg_roles r WHERE r.rolname = current_user"
            )
        ).one()
    problems = [
        reason
        for reason, bad in (
            ("is a superuser", row.rolsuper),
            ("has BYPASSRLS", row.rolbypassrls),
            (f"owns {row.owned} relations", row.owned),
        )
        if bad
    ]
    if problems:
        raise UnsafeDatabaseRole(
            f"database role {row.rolname!r} {', '.join(problems)}: the app must connect as a "
            "role that row-level security applies to (see README, Database roles)"
        )
