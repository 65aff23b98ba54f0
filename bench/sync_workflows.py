"""Workflow sync of 1,000 workflows from the fake n8n on loopback, against a bare paged fetch.

The fake runs in its own process, as n8n does.

- Bare: one requests.Session pages GET /api/v1/workflows (limit 250, excludePinnedData) by
  nextCursor and decodes each page: the least any sync must do.
- Sync: ``services.sync.sync_workflows`` as the job runs it: the same listing through the
  n8n client (address check, retries, size cap), the semantic digest of every workflow and
  one upsert statement and commit per page (in the writer thread, behind the listing), the
  missing-workflow check, last_sync_at.
  Measured as a first sync (every row inserted, into a fresh environment each round) and as
  a re-sync with nothing changed (nothing written).

    .venv/bin/python bench/sync_workflows.py [--workflows 1000] [--rounds 5]

Target: a first sync takes at most 2x the bare fetch.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from bench import common
from models.db import db, init_engine, reset_context, tenant_scope
from models.environments import Environment
from services import sync
from services.config import configure
from services.secrets import keyring, new_key_entry
from tests.fake_n8n import FakeN8n

TARGET_RATIO = 2.0


@dataclass(frozen=True)
class Instance:
    url: str
    api_key: str


@contextmanager
def fake_in_own_process(workflows: int) -> Iterator[Instance]:
    """The fake n8n with ``workflows`` workflows, served by a child process, as a real n8n
    is: its CPU time then does not compete with the sync for this process's GIL."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_serve, args=(child, workflows), daemon=True)
    process.start()
    try:
        yield Instance(*parent.recv())
    finally:
        parent.send("stop")
        process.join(timeout=10)


def _serve(conn, workflows: int) -> None:
    with FakeN8n() as fake:
        fake.add_workflows(workflows)
        conn.send((fake.url, fake.api_key))
        conn.recv()


def bare_fetch(fake: Instance) -> int:
    """Page through every workflow with nothing but requests; returns how many."""
    count, cursor = 0, None
    with requests.Session() as session:
        session.headers["X-N8N-API-KEY"] = fake.api_key
        while True:
            params = {"limit": 250, "excludePinnedData": "true"}
            if cursor:
                params["cursor"] = cursor
            page = session.get(f"{fake.url}/api/v1/workflows", params=params, timeout=30).json()
            count += len(page["data"])
            cursor = page.get("nextCursor")
            if not cursor:
                return count


def new_environment(tenant_id: uuid.UUID, fake: Instance) -> uuid.UUID:
    with tenant_scope(tenant_id):
        env = Environment(
            name=f"bench-{uuid.uuid4().hex[:8]}",
            url=fake.url,
            api_key_encrypted=keyring().encrypt(fake.api_key),
            environment_class="dev",
            drift_handling_mode="warn_only",
            # As onboarding leaves it before the first sync: its connection test passed.
            connection_status="healthy",
        )
        db.add(env)
        db.commit()
        env_id = env.id
    reset_context()
    return env_id


def timed(func, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - started, result


def run_sync(tenant_id: uuid.UUID, env_id: uuid.UUID) -> dict:
    with tenant_scope(tenant_id):
        summary = sync.sync_workflows(env_id)
    reset_context()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with common.bench_environment("sync") as env, fake_in_own_process(args.workflows) as fake:
        configure(
            env.settings.with_overrides(
                allow_private_networks=True, encryption_keys=(new_key_entry("bench"),)
            )
        )
        init_engine(env.settings.database_url)
        tenant = common.make_tenant()
        bare_fetch(fake)  # warm-up of both paths
        run_sync(tenant.id, new_environment(tenant.id, fake))

        bare, first, again = [], [], []
        for _ in range(args.rounds):
            seconds, count = timed(bare_fetch, fake)
            assert count == args.workflows
            bare.append(seconds)
            env_id = new_environment(tenant.id, fake)
            seconds, summary = timed(run_sync, tenant.id, env_id)
            assert summary["written"] == args.workflows, summary
            first.append(seconds)
            seconds, summary = timed(run_sync, tenant.id, env_id)
            assert summary["written"] == 0, summary
            again.append(seconds)

    b, f, a = (statistics.median(x) * 1000 for x in (bare, first, again))
    print(f"workflows: {args.workflows}, rounds: {args.rounds} (median ms)")
    print(f"bare paged fetch:          {b:8.1f} ms")
    print(f"sync, first (all written): {f:8.1f} ms   ratio {f / b:.2f}x")
    print(f"sync, again (none written):{a:8.1f} ms   ratio {a / b:.2f}x")
    verdict = "met" if f / b <= TARGET_RATIO else "MISSED"
    print(f"target: first sync at most {TARGET_RATIO}x the bare fetch: {verdict}")


if __name__ == "__main__":
    main()
