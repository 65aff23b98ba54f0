"""A drift check of 10,000 linked workflows against sorting and hashing their JSON, in one run.

The fake n8n runs in its own process, as n8n does; the approved copies are in the embedded
Git repository, as onboarding leaves them.

- Bare: what a developer would write with no platform around it: page GET /api/v1/workflows
  with requests, sort and hash each workflow's JSON (orjson OPT_SORT_KEYS + SHA-256), and
  compare each hash with the approved one (a dict in memory).
- Check: ``services.drift.detection.check`` as the job runs it: the sync (the same listing
  through the n8n client, the semantic digest of each workflow, one upsert per page), Git's
  head listed and compared with the approved-copy cache, the comparison in one statement,
  drift_check_history and the environment's status. One workflow is edited in n8n before
  the rounds, so both sides find one drifted workflow.

    .venv/bin/python bench/drift_check.py [--workflows 10000] [--rounds 3]

Target: the check costs at most 1.5x the bare sort-and-hash.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import statistics
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import requests
from sqlalchemy import select, update

from bench import common
from bench.sync_workflows import Instance, new_environment, timed
from models.db import db, init_engine, reset_context, tenant_scope
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import approved, canonicals, env_links, links, sync
from services.config import configure
from services.drift import detection
from services.secrets import new_key_entry
from services.workflow_file import from_n8n
from tests.fake_n8n import FakeN8n

TARGET_RATIO = 1.5


def _serve(conn, workflows: int) -> None:
    with FakeN8n() as fake:
        ids = fake.add_workflows(workflows)
        conn.send((fake.url, fake.api_key))
        conn.recv()  # approved: edit one workflow in place, as a person in the editor would
        with fake._lock:
            workflow = fake.store.workflow(ids[0])
            workflow["nodes"][1]["parameters"] = {"edited": True}
            workflow["updatedAt"] = fake.store.clock.now()
        conn.send("edited")
        conn.recv()


def _workflows(fake: Instance) -> Iterator[dict]:
    """Every workflow, paged with nothing but requests."""
    cursor = None
    with requests.Session() as session:
        session.headers["X-N8N-API-KEY"] = fake.api_key
        while True:
            params = {"limit": 250, "excludePinnedData": "true"}
            if cursor:
                params["cursor"] = cursor
            page = session.get(f"{fake.url}/api/v1/workflows", params=params, timeout=30).json()
            yield from page["data"]
            cursor = page.get("nextCursor")
            if not cursor:
                return


def _hash(workflow: dict) -> str:
    return hashlib.sha256(orjson.dumps(workflow, option=orjson.OPT_SORT_KEYS)).hexdigest()


def bare_check(fake: Instance, expected: dict[str, str]) -> int:
    """Fetch every workflow, sort and hash its JSON, compare; returns how many differ."""
    return sum(expected.get(str(w["id"])) != _hash(w) for w in _workflows(fake))


def expected_hashes(fake: Instance) -> dict[str, str]:
    """The bare side's approved state: the hash of each workflow as it is now."""
    return {str(w["id"]): _hash(w) for w in _workflows(fake)}


def approve_everything(tenant_id: uuid.UUID, env_id: uuid.UUID) -> int:
    """Sync, make a canonical workflow per workflow, link, commit every approved copy."""
    with tenant_scope(tenant_id):
        db.execute(
            update(Environment)
            .where(Environment.id == env_id)
            .values(environment_class="production")
        )
        db.commit()
        sync.sync_workflows(env_id)
        rows = db.scalars(
            select(WorkflowEnvMap)
            .where(WorkflowEnvMap.environment_id == env_id)
            .order_by(WorkflowEnvMap.n8n_workflow_id)
        ).all()
        made = canonicals.create_many(
            [canonicals.NewCanonical(r.workflow_name or r.n8n_workflow_id) for r in rows]
        )
        links.set_links(env_id, {r.n8n_workflow_id: c.id for r, c in zip(rows, made, strict=True)})
        db.commit()
        refs = env_links.links_for(env_id)
        files = [
            from_n8n(
                r.workflow_data,
                canonical_id=str(c.id),
                slug=c.canonical_slug,
                workflow_ref=refs.workflow_ref,
            )
            for r, c in zip(rows, made, strict=True)
        ]
        env = db.get(Environment, env_id)
        approved.commit_approved(
            env, [approved.ApprovedChange(f) for f in files], operation="backup", message="All"
        )
        count = len(files)
    reset_context()
    return count


def run_check(tenant_id: uuid.UUID, env_id: uuid.UUID) -> dict:
    with tenant_scope(tenant_id):
        result = detection.check(env_id)
    reset_context()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child, args.workflows), daemon=True)
    server.start()
    fake = Instance(*parent.recv())
    try:
        with common.bench_environment("drift") as env:
            configure(
                env.settings.with_overrides(
                    allow_private_networks=True, encryption_keys=(new_key_entry("bench"),)
                )
            )
            init_engine(env.settings.database_url)
            tenant = common.make_tenant()
            env_id = new_environment(tenant.id, fake)
            assert approve_everything(tenant.id, env_id) == args.workflows
            expected = expected_hashes(fake)
            parent.send("edit")
            parent.recv()
            bare_check(fake, expected)  # warm-up of both paths
            run_check(tenant.id, env_id)

            bare, checked = [], []
            for _ in range(args.rounds):
                seconds, differ = timed(bare_check, fake, expected)
                assert differ == 1, differ
                bare.append(seconds)
                seconds, result = timed(run_check, tenant.id, env_id)
                assert result["workflows_with_drift"] == 1, result
                checked.append(seconds)
    finally:
        parent.send("stop")
        server.join(timeout=10)

    b, c = (statistics.median(x) * 1000 for x in (bare, checked))
    print(f"workflows: {args.workflows}, rounds: {args.rounds} (median ms)")
    print(f"bare fetch + sort + hash + compare: {b:9.1f} ms")
    print(f"drift check (job body):             {c:9.1f} ms   ratio {c / b:.2f}x")
    print(f"target: at most {TARGET_RATIO}x: {common.verdict(c / b <= TARGET_RATIO)}")


if __name__ == "__main__":
    main()
