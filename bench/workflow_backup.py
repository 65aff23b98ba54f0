"""Backup of an environment's 1,000 workflows against writing the same workflows as files and
committing them with plain git, in the same run.

The fake n8n runs in its own process (bench/sync_workflows.py); the environment is synced
once, so both sides start from the cached definitions in workflow_env_map.

- Plain: read the cached definitions (one SELECT), ``json.dumps`` each into
  ``snapshots/<id>/<n8n id>.json`` of a local repository, ``git add -A``, ``git commit``.
- Ours: ``services.snapshots.backup(refresh=False)`` as the job runs it: the same read, each
  workflow rendered as a normalised file (services/workflow_file.py), the manifest, one
  commit through the Git layer into the tenant's embedded repository (advisory lock,
  conflict check, fast-import, compare-and-swap of the branch), the approved-copy cache and
  the snapshots row.

Each round writes a new snapshot (1,000 new files) on both sides.

    .venv/bin/python bench/workflow_backup.py [--workflows 1000] [--rounds 5]

Target: at most 1.5x plain git.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench import common
from bench.sync_workflows import fake_in_own_process, new_environment, run_sync
from models.db import db, init_engine, reset_context, tenant_scope
from models.workflows import WorkflowEnvMap
from services import snapshots
from services.config import configure
from services.secrets import new_key_entry

TARGET_RATIO = 1.5


def plain_git(repo: Path, tenant_id: uuid.UUID, env_id: uuid.UUID) -> int:
    """Write the cached definitions as files of a new snapshot folder and commit them."""
    with tenant_scope(tenant_id):
        found = db.execute(
            select(WorkflowEnvMap.n8n_workflow_id, WorkflowEnvMap.workflow_data).where(
                WorkflowEnvMap.environment_id == env_id
            )
        ).all()
    reset_context()
    folder = repo / "snapshots" / str(uuid.uuid4())
    folder.mkdir(parents=True)
    for n8n_id, data in found:
        (folder / f"{n8n_id}.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "Back up"], cwd=repo, check=True)
    return len(found)


def ours(tenant_id: uuid.UUID, env_id: uuid.UUID) -> int:
    with tenant_scope(tenant_id):
        result = snapshots.backup(env_id, snapshot_id=uuid.uuid4(), refresh=False)
    reset_context()
    return result["workflows"]


def timed(func, *args) -> tuple[float, int]:
    started = time.perf_counter()
    count = func(*args)
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with (
        common.bench_environment("backup") as env,
        fake_in_own_process(args.workflows) as fake,
        tempfile.TemporaryDirectory() as scratch,
    ):
        common.print_header("backup of 1,000 workflows vs plain git", env)
        configure(
            env.settings.with_overrides(
                allow_private_networks=True,
                encryption_keys=(new_key_entry("bench"),),
                data_dir=str(Path(scratch) / "data"),
            )
        )
        init_engine(env.settings.database_url)
        tenant = common.make_tenant()
        env_id = new_environment(tenant.id, fake)
        run_sync(tenant.id, env_id)
        repo = Path(scratch) / "plain"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run(
            ["git", "config", "user.email", "bench@example.invalid"], cwd=repo, check=True
        )
        subprocess.run(["git", "config", "user.name", "bench"], cwd=repo, check=True)
        plain_git(repo, tenant.id, env_id)  # warm-up of both paths
        ours(tenant.id, env_id)

        plain, platform = [], []
        for _ in range(args.rounds):
            seconds, count = timed(plain_git, repo, tenant.id, env_id)
            assert count == args.workflows, count
            plain.append(seconds)
            seconds, count = timed(ours, tenant.id, env_id)
            assert count == args.workflows, count
            platform.append(seconds)

    p, o = (statistics.median(x) * 1000 for x in (plain, platform))
    print(f"workflows: {args.workflows}, rounds: {args.rounds} (median ms)")
    print(f"plain git (json.dumps, add, commit): {p:8.1f} ms")
    print(f"backup (files, manifest, commit, row): {o:8.1f} ms   ratio {o / p:.2f}x")
    print(f"target: at most {TARGET_RATIO}x plain git: {common.verdict(o / p <= TARGET_RATIO)}")


if __name__ == "__main__":
    main()
