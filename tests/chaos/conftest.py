"""The chaos suite's session: a private PostgreSQL and Redis (tests/chaos/stack.py), migrated
and set up like production, and this process connected to them to start jobs and watch them.

Collected only with CHAOS=1 (`make chaos`), one test at a time: each kills or pauses real
processes and measures how long recovery takes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest

from jobs import load_actors
from jobs.broker import setup_broker
from models.db import SessionFactory, init_engine, reset_context
from services import config, dbadmin, tenants
from services.config import Settings
from tests.chaos.stack import PrivatePostgres, PrivateRedis, Stack

#: Where each scenario's figures are appended (one JSON object a line), for bench/RESULTS.md.
FIGURES = Path(os.environ.get("CHAOS_FIGURES", "/tmp/n8nops-chaos-figures.jsonl"))
#: Lines of each process's log a failed scenario's report ends with.
LOG_TAIL_LINES = 60


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    # Not pytest's tmp_path: its folders are private to root, and PostgreSQL runs as its own
    # system user when the suite runs as root. CHAOS_KEEP=1 keeps the folder (process logs).
    home = Path(tempfile.mkdtemp(prefix="n8nops-chaos-"))
    home.chmod(0o755)
    postgres = PrivatePostgres(home / "pg")
    postgres.init()
    postgres.start()
    private_redis = PrivateRedis(home / "redis")
    private_redis.start()
    roles = dbadmin.DatabaseRoles()
    dbadmin.ensure_roles(postgres.admin_url, roles)
    dbadmin.create_database(postgres.admin_url, "n8nops", owner=roles.owner)
    dbadmin.migrate(dbadmin.url_for(postgres.admin_url, database="n8nops", user=roles.owner))
    running = Stack(
        home=home,
        postgres=postgres,
        redis=private_redis,
        database_url=dbadmin.url_for(postgres.admin_url, database="n8nops", user=roles.app),
        namespace="chaos",
    )
    try:
        yield running
    finally:
        running.stop_all()
        private_redis.kill()
        if postgres.running():
            postgres.stop(mode="immediate")
        if not os.environ.get("CHAOS_KEEP"):
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def connected(stack: Stack) -> Iterator[Stack]:
    """This process on the private database and Redis (the session's app and broker, if the
    regular suite runs in the same session, are restored afterwards)."""
    broker, engine = dramatiq.broker.global_broker, SessionFactory.kw.get("bind")
    settings = Settings(
        database_url=stack.database_url,
        redis_url=stack.redis.url,
        dramatiq_namespace=stack.namespace,
        encryption_keys=(stack.encryption_key,),
    ).normalized()
    config.configure(settings)
    init_engine(settings.database_url)
    setup_broker(settings)
    load_actors()
    yield stack
    reset_context()
    SessionFactory.kw["bind"].dispose()
    if broker is not None:
        dramatiq.set_broker(broker)
    if engine is not None:
        SessionFactory.configure(bind=engine)


@pytest.fixture
def chaos(connected: Stack, request) -> Iterator[Stack]:
    """The stack for one scenario, as a fresh one: PostgreSQL up, an empty Redis without
    persistence; its processes are killed at the end."""
    if not connected.postgres.running():
        connected.postgres.start()
    connected.redis.restart(persistent=False, wipe=True)
    yield connected
    if getattr(request.node, "chaos_failed", False):
        # The process logs are gone with the folder (and with CI's machine): their ends go
        # into the failure's report instead.
        for process in connected.processes:
            lines = process.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            print(f"--- last {len(lines)} lines of {process.log.name}", *lines, sep="\n")
    connected.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.chaos_failed = report.failed
    return report


@pytest.fixture
def tenant_id(connected: Stack) -> uuid.UUID:
    slug = f"chaos-{uuid.uuid4().hex[:10]}"
    tenant = tenants.create_tenant(name=f"Chaos {slug}", slug=slug)
    reset_context()
    return tenant.id


@pytest.fixture
def record(request):
    """Append this scenario's figures to FIGURES."""

    def write(**figures) -> None:
        with FIGURES.open("a") as out:
            out.write(json.dumps({"scenario": request.node.name, **figures}) + "\n")

    return write
