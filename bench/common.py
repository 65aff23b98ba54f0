"""Shared set-up of the benchmarks: a throwaway database and Dramatiq namespace, the worker
process's boot, a tenant with a token, completion counting, and the reporting helpers.

Every benchmark runs as the app role against a fresh database migrated to head (the way the
test suite does, see tests/conftest.py), on its own Redis namespace, and removes both at the
end. The PostgreSQL superuser and Redis URLs can be overridden with BENCH_ADMIN_DATABASE_URL
and BENCH_REDIS_URL.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dramatiq
import redis
from dramatiq.middleware import Middleware
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services import dbadmin
from services.config import Settings
from services.secrets import new_key_entry

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Worker threads of the production worker (Procfile: --threads ${WORKER_THREADS:-8}).
PRODUCTION_WORKER_THREADS = 8


@dataclass(frozen=True)
class BenchEnv:
    """One benchmark's database and Redis namespace."""

    label: str
    database: str
    owner_url: str
    settings: Settings

    def process_env(self) -> dict[str, str]:
        """Environment variables for a subprocess (gunicorn, a worker) of this benchmark."""
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": self.settings.database_url,
            "MIGRATION_DATABASE_URL": self.owner_url,
            "REDIS_URL": self.settings.redis_url,
            "DRAMATIQ_NAMESPACE": self.settings.dramatiq_namespace,
            "LOG_LEVEL": self.settings.log_level,
            "ENCRYPTION_KEYS": ",".join(self.settings.encryption_keys),
            # This benchmark's settings only, not a dev stack's env file.
            "N8NOPS_ENV_FILE": "",
        }


@contextmanager
def bench_environment(
    label: str, *, keep: bool = False, reuse: str | None = None
) -> Iterator[BenchEnv]:
    """Create the roles, a database owned by the owner role (or ``reuse`` a kept one),
    migrate it, and point the app role at it; drop the database (unless kept or reused: its
    name is printed) and the Redis namespace afterwards."""
    roles = dbadmin.DatabaseRoles()
    dbadmin.ensure_roles(ADMIN_URL, roles)
    suffix = uuid.uuid4().hex[:8]
    name = reuse or f"n8nops_bench_{label}_{suffix}"
    if not reuse:
        dbadmin.create_database(ADMIN_URL, name, owner=roles.owner)
    owner_url = dbadmin.url_for(ADMIN_URL, database=name, user=roles.owner)
    settings = Settings(
        database_url=dbadmin.url_for(ADMIN_URL, database=name, user=roles.app),
        migration_database_url=owner_url,
        redis_url=REDIS_URL,
        dramatiq_namespace=f"n8nops-bench-{label}-{suffix}",
        log_level="WARNING",
        encryption_keys=(new_key_entry("bench-1"),),
    ).normalized()
    env = BenchEnv(label=label, database=name, owner_url=owner_url, settings=settings)
    try:
        dbadmin.migrate(owner_url)
        yield env
    finally:
        _dispose_engine()
        if keep or reuse:
            print(f"kept database {name}")
        else:
            dbadmin.drop_database(ADMIN_URL, name)
        clear_namespace(settings.redis_url, settings.dramatiq_namespace)


def _dispose_engine() -> None:
    from models.db import SessionFactory, reset_context

    reset_context()
    engine = SessionFactory.kw.get("bind")
    if engine is not None:
        engine.dispose()


def clear_namespace(redis_url: str, namespace: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


def boot_worker_process(env: BenchEnv) -> dramatiq.Broker:
    """Boot this process the way `dramatiq jobs.worker` does (jobs/worker.py: JSON logs, key
    check, app-role check, engine, broker, every actor), from the same environment variables;
    metrics go to per-process files, as under the Procfile's Prometheus middleware."""
    os.environ.update(env.process_env())
    metrics_dir = tempfile.mkdtemp(prefix="n8nops-bench-metrics-")
    atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
    importlib.import_module("jobs.worker")
    logging.getLogger().setLevel(logging.WARNING)
    return dramatiq.get_broker()


@dataclass(frozen=True)
class BenchTenant:
    id: uuid.UUID
    user_id: uuid.UUID
    token: str


def existing_tenant(tenant_id: uuid.UUID) -> BenchTenant:
    """A new personal token for the first user of a tenant already there (a reused database)."""
    from models.db import db, reset_context, tenant_scope
    from models.tenancy import User
    from services import tokens

    with tenant_scope(tenant_id):
        user_id = db.scalars(select(User.id).order_by(User.created_at)).first()
        _, secret = tokens.issue_token(user_id, name="bench")
    reset_context()
    return BenchTenant(id=tenant_id, user_id=user_id, token=secret)


def make_tenant(role: str = "admin") -> BenchTenant:
    """A tenant with one user and a personal token, through the product's own services."""
    from models.db import reset_context, tenant_scope
    from services import tenants, tokens, users

    slug = f"bench-{uuid.uuid4().hex[:10]}"
    tenant = tenants.create_tenant(name=f"Bench {slug}", slug=slug)
    with tenant_scope(tenant.id):
        user = users.create_user(email=f"{role}@{slug}.example", role=role)
        _, secret = tokens.issue_token(user.id, name="bench")
        user_id = user.id
    reset_context()
    return BenchTenant(id=tenant.id, user_id=user_id, token=secret)


class Completions(Middleware):
    """Counts processed messages per actor, so a benchmark can wait for the N-th one; the
    same counter serves the tracked and the raw side."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.counts: Counter[str] = Counter()
        self.last_at: dict[str, float] = {}

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        now = time.perf_counter()
        with self._cond:
            self.counts[message.actor_name] += 1
            self.last_at[message.actor_name] = now
            self._cond.notify_all()

    def wait_for(self, actor_name: str, count: int, timeout: float) -> bool:
        """Wait until ``actor_name`` has processed ``count`` messages in all."""
        with self._cond:
            return self._cond.wait_for(lambda: self.counts[actor_name] >= count, timeout)


def install_completions(broker: dramatiq.Broker) -> Completions:
    completions = Completions()
    broker.add_middleware(completions)
    return completions


@contextmanager
def running_worker(threads: int, timeout_ms: int) -> Iterator[dramatiq.Worker]:
    """A real dramatiq.Worker in this process on the global broker."""
    worker = dramatiq.Worker(
        dramatiq.get_broker(), worker_threads=threads, worker_timeout=timeout_ms
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        # A Worker registers a middleware on the broker and never removes it; drop it so the
        # next Worker of this process starts from the same broker.
        broker = worker.broker
        broker.middleware[:] = [
            m for m in broker.middleware if getattr(m, "worker", None) is not worker
        ]


# --- reporting ---------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile with linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values_s: list[float]) -> dict[str, float]:
    """p50, p90, p95, p99, mean and max of durations given in seconds, in milliseconds."""
    ms = [value * 1000 for value in values_s]
    return {
        "p50": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "mean": statistics.fmean(ms),
        "max": max(ms),
    }


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def print_header(title: str, env: BenchEnv | None = None) -> None:
    print(f"== {title}")
    print(f"date:    {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    print(f"machine: {machine()}")
    print(f"python {platform.python_version()}, dramatiq {dramatiq.__version__}")
    if env is not None:
        print(f"database {env.database}, redis namespace {env.settings.dramatiq_namespace}")
    print(load_average())
    print()


def load_average() -> str:
    """The machine's load, to judge whether something else competed for the 2 cores."""
    one, five, _ = os.getloadavg()
    return f"load average: {one:.2f} (1 min), {five:.2f} (5 min)"


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


@contextmanager
def supervised(command: list[str], env: dict[str, str], label: str) -> Iterator[int]:
    """Run ``command`` (a server or worker under test) for the block; yields its pid. Its
    output is shown if the block fails; SIGTERM at the end, SIGKILL to its group if it hangs."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
        try:
            yield process.pid
        except Exception:
            log.seek(0)
            print(f"--- {label} output:\n{log.read().decode(errors='replace')[-3000:]}")
            raise
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
