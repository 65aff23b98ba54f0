"""Promoting 100 workflows between two fake n8n instances (each in its own process, as n8n
would be), against the bare n8n calls the same promotion needs.

- Bare: one requests.Session, for each workflow a GET of the target's copy and a PUT of the
  new version: the least any promotion does.
- Promotion: ``services.promotions.execute.run`` as the deployment job runs it: every gate
  again (drift gate, credentials, references, node types, guard, risk), the pre-promotion
  snapshot (database and one Git commit), each workflow through the deploy writer (its GET,
  PUT, read-back and digest, one committed row per workflow), the target's approved copies
  in Git (one commit), the post-promotion snapshot, events and audit.

Each round promotes a new version (committed to dev's approved copies before the clock
starts), so every round writes all 100 workflows.

    .venv/bin/python bench/promotion.py [--workflows 100] [--rounds 5]

Target: the promotion takes at most 1.5x the bare calls.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from sqlalchemy import select

from bench import common
from bench.sync_workflows import Instance, new_environment, timed
from models.billing import Plan, TenantPlan
from models.db import db, init_engine, reset_context, tenant_scope
from models.environments import Environment
from models.promotions import Deployment
from models.workflows import WorkflowEnvMap
from services import approved, canonicals, env_links, links, sync
from services.config import configure
from services.identity import Principal
from services.promotions import execute, lifecycle, pipelines
from services.secrets import new_key_entry
from services.workflow_file import from_n8n
from tests.fake_n8n import FakeN8n
from tests.fake_n8n.server import sample_workflow

TARGET_RATIO = 1.5


def _serve(conn, workflows: int) -> None:
    with FakeN8n() as fake:
        for n in range(workflows):
            fake.add_workflow(sample_workflow(f"Workflow {n:05d}"))
        conn.send((fake.url, fake.api_key))
        conn.recv()


@contextlib.contextmanager
def fake_in_own_process(workflows: int):
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_serve, args=(child, workflows), daemon=True)
    process.start()
    try:
        yield Instance(*parent.recv())
    finally:
        parent.send("stop")
        process.join(timeout=10)


class Context:
    """What the job core gives an actor, minus the job row: leases always held."""

    def __init__(self, deployment_id: uuid.UUID) -> None:
        self.job_id = uuid.uuid4()
        self.params = {"deployment_id": str(deployment_id)}

    def ensure_lease(self) -> None:
        """Always held outside a worker."""

    @contextlib.contextmanager
    def fenced_transaction(self):
        yield {}
        db.commit()

    def progress(self, *_args, **_kwargs) -> None:
        """No job row to write."""


def files_of(env: Environment, variant: int | None) -> list:
    """The environment's linked workflows as files (``variant``: a new version of each)."""
    refs = env_links.links_for(env.id)
    found = []
    for row in _all_rows(env.id):
        workflow = dict(row.workflow_data)
        if variant is not None:
            workflow["nodes"] = [dict(n) for n in workflow["nodes"]]
            workflow["nodes"][1]["notes"] = f"v{variant}"
            workflow["nodes"][1]["parameters"] = {"version": variant}
        found.append(
            from_n8n(
                workflow,
                canonical_id=str(row.canonical_id),
                slug=f"wf-{row.n8n_workflow_id.lower()}",
                workflow_ref=refs.workflow_ref,
            )
        )
    return found


def set_up(tenant_id, dev_fake: Instance, staging_fake: Instance, workflows: int):
    dev_id = new_environment(tenant_id, dev_fake)
    staging_id = new_environment(tenant_id, staging_fake)
    with tenant_scope(tenant_id):
        # Promotions are a paid feature.
        pro = db.scalar(select(Plan.id).where(Plan.name == "pro"))
        db.add(TenantPlan(tenant_id=tenant_id, provider="n8n", plan_id=pro, is_active=True))
        db.get(Environment, staging_id).environment_class = "staging"
        db.commit()
        names = {}
        for env_id in (dev_id, staging_id):
            sync.sync_workflows(env_id)
            rows = {r.workflow_name: r.n8n_workflow_id for r in _all_rows(env_id)}
            names[env_id] = rows
        made = canonicals.create_many([canonicals.NewCanonical(n) for n in sorted(names[dev_id])])
        by_name = {c.name: c.id for c in made}
        for env_id in (dev_id, staging_id):
            links.set_links(env_id, {names[env_id][n]: by_name[n] for n in by_name})
        db.commit()
        for env_id in (dev_id, staging_id):
            env = db.get(Environment, env_id)
            approved.commit_approved(
                env,
                [approved.ApprovedChange(f) for f in files_of(env, None)],
                operation="backup",
                message="Approve",
            )
        pipe = pipelines.create(
            name=f"bench-{uuid.uuid4().hex[:6]}",
            stages=[
                {"source_environment_id": str(dev_id), "target_environment_id": str(staging_id)}
            ],
        )
        ids = list(by_name.values())
    reset_context()
    assert len(ids) == workflows
    return dev_id, staging_id, pipe.id, ids


def _all_rows(env_id):
    return db.scalars(
        select(WorkflowEnvMap)
        .where(WorkflowEnvMap.environment_id == env_id)
        .order_by(WorkflowEnvMap.workflow_name)
    ).all()


def new_version(tenant_id, dev_id, variant: int) -> None:
    with tenant_scope(tenant_id):
        env = db.get(Environment, dev_id)
        approved.commit_approved(
            env,
            [approved.ApprovedChange(f) for f in files_of(env, variant)],
            operation="backup",
            message=f"Version {variant}",
        )
    reset_context()


def promote(tenant, dev_id, staging_id, pipe_id, ids) -> dict:
    """Request the promotion (not timed), then run its deployment (timed by the caller)."""
    principal = Principal(tenant.user_id, tenant.id, "admin")
    with tenant_scope(tenant.id):
        promotion = lifecycle.create(
            pipeline_id=pipe_id,
            source_environment_id=dev_id,
            target_environment_id=staging_id,
            canonical_ids=ids,
            principal=principal,
        )
        deployment = Deployment(promotion_id=promotion.id, created_by=tenant.user_id)
        db.add(deployment)
        db.commit()
        deployment_id = deployment.id
    reset_context()
    return deployment_id


def run_deployment(tenant_id, deployment_id) -> dict:
    with tenant_scope(tenant_id):
        result = execute.run(Context(deployment_id))
    reset_context()
    return result


def bare(fake: Instance, ids: list[str], variant: int) -> int:
    """For each workflow: GET the target's copy, PUT the new version."""
    with requests.Session() as session:
        session.headers["X-N8N-API-KEY"] = fake.api_key
        for workflow_id in ids:
            url = f"{fake.url}/api/v1/workflows/{workflow_id}"
            current = session.get(url, timeout=30).json()
            current["nodes"][1]["parameters"] = {"bare": variant}
            body = {k: current[k] for k in ("name", "nodes", "connections", "settings")}
            response = session.put(url, json=body, timeout=30)
            response.raise_for_status()
    return len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with (
        common.bench_environment("promotion") as env,
        fake_in_own_process(args.workflows) as dev_fake,
        fake_in_own_process(args.workflows) as staging_fake,
        tempfile.TemporaryDirectory() as data_dir,
    ):
        configure(
            env.settings.with_overrides(
                allow_private_networks=True,
                data_dir=data_dir,
                encryption_keys=(new_key_entry("bench"),),
            )
        )
        init_engine(env.settings.database_url)
        tenant = common.make_tenant()
        dev_id, staging_id, pipe_id, ids = set_up(tenant.id, dev_fake, staging_fake, args.workflows)
        with tenant_scope(tenant.id):
            target_ids = [r.n8n_workflow_id for r in _all_rows(staging_id)]
        reset_context()
        common.print_header(f"Promotion of {args.workflows} workflows", env)
        bare_s, promo_s = [], []
        for variant in range(args.rounds + 1):
            seconds, _ = timed(bare, staging_fake, target_ids, variant)
            new_version(tenant.id, dev_id, variant)
            deployment_id = promote(tenant, dev_id, staging_id, pipe_id, ids)
            started = time.perf_counter()
            result = run_deployment(tenant.id, deployment_id)
            elapsed = time.perf_counter() - started
            assert result["promoted"] == args.workflows, result
            if variant:  # the first round warms both paths up
                bare_s.append(seconds)
                promo_s.append(elapsed)
        ratio = statistics.median(promo_s) / statistics.median(bare_s)
        print(f"bare GET+PUT s per round:  {' / '.join(f'{s:.2f}' for s in bare_s)}")
        print(f"promotion s per round:     {' / '.join(f'{s:.2f}' for s in promo_s)}")
        print(
            f"ratio promotion/bare (medians): {ratio:.2f} (target <= {TARGET_RATIO}): "
            f"{common.verdict(ratio <= TARGET_RATIO)}"
        )


if __name__ == "__main__":
    main()
