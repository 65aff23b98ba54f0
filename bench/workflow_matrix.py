"""The workflow matrix through the API: 1,000 canonical workflows x 10 environments (10,000
cells in every state, plus 100 untracked workflows per environment), GET
/api/v1/canonical-workflows/matrix served by gunicorn as the Procfile does, against a bare
Flask endpoint that runs the same two statements (a page of canonical workflows, then their
cells) with no authentication, schema or row-level-security context beyond the tenant, in the
same run.

Queries: the first page (50 rows), page 20, rows with a drifting cell (``state=drift``), rows
missing in one environment (``state=missing&environment_id=...``). Each is asked
sequentially ``--requests`` times per side after a warm-up; p50 and p95 per query.

    .venv/bin/python bench/workflow_matrix.py [--canonicals 1000] [--environments 10]
        [--requests 200]

Target: p95 under 200 ms for every query through the API.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from bench import common
from bench.job_poll import _get, add_server_arguments, free_port, gunicorn, wait_until_served
from models.db import db, init_engine, reset_context, tenant_scope
from services.config import configure

TARGET_P95_MS = 200.0

_SEED = [
    """
    INSERT INTO environments (tenant_id, name, environment_class, drift_handling_mode, url)
    SELECT :tenant, 'env-' || lpad(n::text, 2, '0'),
           (ARRAY['dev', 'staging', 'production'])[1 + n % 3], 'warn_only',
           'https://n8n-' || n || '.example'
      FROM generate_series(1, :envs) AS n
    """,
    """
    INSERT INTO canonical_workflows (tenant_id, canonical_slug, name)
    SELECT :tenant, 'workflow-' || lpad(n::text, 5, '0'), 'Workflow ' || n
      FROM generate_series(1, :canonicals) AS n
    """,
    # Every (canonical, environment) pair but every 17th: an approved copy...
    """
    INSERT INTO workflow_git_state (tenant_id, canonical_id, environment_id, git_path,
                                    last_commit_sha, git_content_hash, blob_sha)
    SELECT :tenant, c.id, e.id, e.name || '/workflows/' || c.canonical_slug || '.json',
           md5('commit'), md5(c.id::text), md5(c.id::text || e.id::text)
      FROM canonical_workflows c CROSS JOIN environments e
     WHERE (hashtext(c.id::text || e.id::text) % 17) <> 0
    """,
    # ...and a runtime copy: drift every 7th, out of date every 11th, missing every 13th.
    """
    INSERT INTO workflow_env_map (tenant_id, canonical_id, environment_id, n8n_workflow_id,
                                  status, env_content_hash, git_content_hash, workflow_name)
    SELECT g.tenant_id, g.canonical_id, g.environment_id, 'wf-' || g.id,
           CASE WHEN k % 13 = 0 THEN 'missing' ELSE 'linked' END,
           CASE WHEN k % 7 = 0 THEN md5('edited') ELSE md5(g.canonical_id::text || s) END,
           md5(g.canonical_id::text || s), 'Workflow'
      FROM workflow_git_state g,
           LATERAL (SELECT abs(hashtext(g.id::text)) AS k) h,
           LATERAL (SELECT CASE WHEN k % 11 = 0 THEN 'old' ELSE '' END AS s) o
    """,
    # Approved digests equal the runtime copies' where in sync.
    """
    UPDATE workflow_git_state g SET git_content_hash = md5(g.canonical_id::text)
    """,
    """
    UPDATE workflow_env_map m SET git_content_hash = md5(m.canonical_id::text),
           env_content_hash = CASE WHEN m.env_content_hash = md5('edited') THEN md5('edited')
                                   ELSE md5(m.canonical_id::text) END
     WHERE m.git_content_hash = md5(m.canonical_id::text)
    """,
    """
    INSERT INTO workflow_env_map (tenant_id, environment_id, n8n_workflow_id, status,
                                  workflow_name)
    SELECT :tenant, e.id, 'untracked-' || n, 'untracked', 'Loose ' || n
      FROM environments e CROSS JOIN generate_series(1, 100) AS n
    """,
]
#: Statistics, as autovacuum would gather them (only the tables' owner may).
_ANALYZE = "ANALYZE canonical_workflows, environments, workflow_env_map, workflow_git_state"


def seed(tenant_id: uuid.UUID, canonicals: int, envs: int, owner_url: str) -> str:
    """The rows of the matrix; returns one environment's id (for the filtered query)."""
    with tenant_scope(tenant_id):
        for statement in _SEED:
            db.execute(
                text(statement), {"tenant": tenant_id, "envs": envs, "canonicals": canonicals}
            )
        env_id = db.scalar(text("SELECT id FROM environments ORDER BY name LIMIT 1"))
        counts = db.execute(
            text("""SELECT (SELECT count(*) FROM workflow_env_map),
                           (SELECT count(*) FROM workflow_git_state)""")
        ).one()
        db.commit()
    reset_context()
    owner = create_engine(owner_url)
    with owner.begin() as conn:
        conn.execute(text(_ANALYZE))
    owner.dispose()
    print(f"seeded {canonicals} canonical x {envs} environments: {counts[0]} runtime rows, "
          f"{counts[1]} approved copies")  # fmt: skip
    return str(env_id)


def measure(url: str, token: str, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        status, _ = _get(url, token)
        times.append(time.perf_counter() - start)
        assert status == 200, status
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--canonicals", type=int, default=1000)
    parser.add_argument("--environments", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200)
    add_server_arguments(parser)
    args = parser.parse_args()

    with common.bench_environment("matrix") as env:
        common.print_header("workflow matrix: GET /canonical-workflows/matrix vs bare SQL", env)
        configure(env.settings)
        init_engine(env.settings.database_url)
        tenant = common.make_tenant("viewer")
        env_id = seed(tenant.id, args.canonicals, args.environments, env.owner_url)
        process_env = {**env.process_env(), "BENCH_TENANT_ID": str(tenant.id)}
        queries = {
            "first page": "limit=50",
            "page 20": "limit=50&page=20",
            "state=drift": "state=drift&limit=50",
            "missing in one env": f"state=missing&environment_id={env_id}&limit=50",
        }
        with (
            gunicorn("web:create_app()", free_port(), process_env, args) as api,
            gunicorn("bench.bare_matrix:create_app()", free_port(), process_env, args) as bare,
        ):
            bases = {
                "bare": f"{bare}/bare/matrix?",
                "api": f"{api}/api/v1/canonical-workflows/matrix?",
            }
            results = {}
            for name, query in queries.items():
                for side, base in bases.items():
                    body = json.loads(wait_until_served(base + query, tenant.token))
                    assert body["rows"], (side, name, body)
                    measure(base + query, tenant.token, 10)
                    results[(name, side)] = common.summary_ms(
                        measure(base + query, tenant.token, args.requests)
                    )
        print()
        met = True
        for name in queries:
            api, bare = results[(name, "api")], results[(name, "bare")]
            met &= api["p95"] < TARGET_P95_MS
            print(
                f"{name:>20}: api p50 {api['p50']:6.1f} ms p95 {api['p95']:6.1f} ms | "
                f"bare p50 {bare['p50']:6.1f} ms p95 {bare['p95']:6.1f} ms | "
                f"api/bare p95 {api['p95'] / bare['p95']:.2f}x"
            )
        print(f"target p95 < {TARGET_P95_MS:.0f} ms through the API: {common.verdict(met)}")


if __name__ == "__main__":
    main()
