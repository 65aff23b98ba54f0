"""Growth: p95 of every list and analytics endpoint at 100,000 and at 1,000,000 executions per
tenant (10 tenants, interleaved as ingestion writes them) and 10,000 then 100,000 jobs per
tenant. Costs should stay flat: p95 under 50 ms at the larger size, at most 1.5x the smaller.

Rows are loaded with set-based SQL as the benchmark's superuser (generate_series), then the
hourly and daily roll-ups are computed by the product's own services/rollup_maintenance.rebuild,
as ingestion would have kept them. Requests run in this process through the app's test client
with each tenant's personal token, so the figures are the request path and its queries, not
HTTP.

    .venv/bin/python bench/growth.py [--tenants 10] [--small 100000] [--large 1000000]
        [--requests 40] [--jobs-only] [--keep] [--reuse DATABASE]

--jobs-only loads and measures the jobs alone (no executions, no roll-ups): minutes less.
--keep leaves the loaded database (its name is printed) for EXPLAIN ANALYZE afterwards;
--reuse DATABASE migrates such a database to head and measures what it holds, loading nothing
(after a change of the read path; a change to what ingestion keeps needs a new load).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from bench import common
from models.db import reset_context, tenant_scope
from services import dbadmin, rollup_maintenance

TARGET_P95_MS = 50.0
TARGET_GROWTH = 1.5
#: Days the executions span (the longest analytics window is 90 days).
SPAN_DAYS = 90
#: Where row g falls in its span: g times the golden ratio, modulo 1. Every batch of rows
#: spreads evenly over the whole span, so the larger size is the same days, ten times as
#: dense (rows loaded in order would put the smaller size in the oldest tenth of the span,
#: and leave its recent windows empty).
SPREAD = "0.6180339887498949"
WORKFLOWS_PER_ENVIRONMENT = 50

_ENVIRONMENT = text(
    "INSERT INTO environments (tenant_id, name, environment_class, drift_handling_mode, url)"
    " VALUES (:tenant, 'production', 'production', 'warn_only', 'https://n8n.example.com')"
    " RETURNING id"
)
#: Executions ``first``..``last`` of a sequence spread over SPAN_DAYS, tenants interleaved;
#: each tenant's own count (nth) picks the workflow and the outcome, so every tenant has all
#: the workflows and a tenth of failures (g alone would tie them to the tenant).
_EXECUTIONS = text(
    f"""
    INSERT INTO executions (tenant_id, environment_id, n8n_execution_id, workflow_id,
        workflow_name, status, normalized_status, started_at, finished_at, execution_time,
        mode, error_message, error_node)
    SELECT env.tenant_id, env.id, g::text, 'wf-' || s.workflow, 'Workflow ' || s.workflow,
           s.status, s.status, at, at + make_interval(secs => d / 1000.0), d, 'trigger',
           CASE s.status WHEN 'error' THEN 'failed' END,
           CASE s.status WHEN 'error' THEN 'HTTP' END
      FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
      CROSS JOIN (SELECT CAST(:environments AS uuid[]) AS ids) AS envs
      JOIN environments env ON env.id = envs.ids[1 + g % cardinality(envs.ids)]
      CROSS JOIN LATERAL (SELECT g / cardinality(envs.ids) AS nth) n
      CROSS JOIN LATERAL (SELECT now() - make_interval(days => {SPAN_DAYS})
                                 * mod(g * {SPREAD}, 1)::float AS at,
                                 (50 + (g * 7919) % 5000)::int AS d,
                                 CASE WHEN n.nth % 10 = 0 THEN 'error' ELSE 'success' END
                                     AS status,
                                 n.nth % {WORKFLOWS_PER_ENVIRONMENT} AS workflow) s
    """
)
#: Jobs the same way, each tenant with every kind and status (a fifth failed), but created in
#: the order they are inserted, over 30 days up to job ``newest``: a job is written when it
#: is created (spread out of order, a tenant's newest failed jobs sat on 51 pages nothing else
#: read, cold after the analytics' reads). Loaded with the table's triggers off (JOBS_BULK):
#: each row's live number is drawn here, as the live trigger would draw it, and the finished
#: counts are rebuilt after (_JOB_COUNTS).
_JOBS = text(
    """
    INSERT INTO background_jobs (tenant_id, job_type, status, params, progress, queue_name,
        actor_name, max_attempts, triggered_by, created_at, live_seq)
    SELECT env.tenant_id, (ARRAY['sync', 'execution_ingestion', 'drift_check',
                                 'healthcheck'])[1 + n.nth % 4],
           (ARRAY['completed', 'completed', 'completed', 'failed', 'cancelled'])[1 + n.nth / 4 % 5],
           '{}', '{}', 'default', 'noop', 3, 'schedule',
           now() - make_interval(days => 30) * (1 - g / CAST(:newest AS float)),
           nextval('live_event_seq')
      FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
      CROSS JOIN (SELECT CAST(:environments AS uuid[]) AS ids) AS envs
      JOIN environments env ON env.id = envs.ids[1 + g % cardinality(envs.ids)]
      CROSS JOIN LATERAL (SELECT g / cardinality(envs.ids) AS nth) n
    """
)
#: Triggers off for this transaction (the superuser's bulk load): a row-level trigger's
#: announcement per job made loading 1,000,000 jobs take 26 minutes.
JOBS_BULK = "SET LOCAL session_replication_role = replica"
#: The finished jobs' counts the trigger on background_jobs would have kept (migration
#: i13d_counts), in slot 0 (two statements: one statement's insert would meet the rows its
#: delete removes).
_JOB_COUNTS = (
    text("DELETE FROM job_counts"),
    text(
        """
        INSERT INTO job_counts (tenant_id, status, job_type, slot, count)
        SELECT tenant_id, status, job_type, 0, count(*) FROM background_jobs
         WHERE status IN ('completed', 'failed', 'cancelled')
         GROUP BY tenant_id, status, job_type
        """
    ),
)


def endpoints(env_id: uuid.UUID) -> dict[str, str]:
    """Every list and analytics endpoint these rows feed, with the filters clients use."""
    analytics = f"/api/v1/executions/analytics?environment_id={env_id}"
    return {
        "executions (newest page)": f"/api/v1/executions?environment_id={env_id}&limit=50",
        "executions (one workflow)": "/api/v1/executions?workflow_id=wf-7&limit=50",
        "executions (failed)": f"/api/v1/executions?environment_id={env_id}&status=error",
        "analytics 24 h": f"{analytics}&window_hours=24",
        "analytics 90 d": f"{analytics}&window_hours=2160",
        "analytics 90 d, one workflow": f"{analytics}&window_hours=2160&workflow_id=wf-7",
        "per-workflow 24 h": f"/api/v1/executions/analytics/workflows?environment_id={env_id}",
        "per-workflow 90 d": (
            f"/api/v1/executions/analytics/workflows?environment_id={env_id}&window_hours=2160"
        ),
        "jobs (newest page)": "/api/v1/jobs?limit=50",
        "jobs (page 20)": "/api/v1/jobs?limit=50&page=20",
        "jobs (failed)": "/api/v1/jobs?status=failed&limit=50",
        "jobs (one kind)": "/api/v1/jobs?job_type=drift_check&limit=50",
        "jobs stats": "/api/v1/jobs/stats",
        "environments": "/api/v1/environments",
    }


def load(
    admin,
    environments: list[uuid.UUID],
    statement,
    *,
    first: int,
    last: int,
    setup: str = "",
    **params: object,
):
    """Insert rows ``first``..``last`` in chunks (one transaction each, ``setup`` first), with
    the statement's other ``params``."""
    chunk = 250_000
    for start in range(first, last + 1, chunk):
        with admin.begin() as conn:
            if setup:
                conn.execute(text(setup))
            conn.execute(
                statement,
                {
                    "first": start,
                    "last": min(last, start + chunk - 1),
                    "environments": environments,
                    **params,
                },
            )


def rebuild_rollups(tenants, environments) -> None:
    """Roll every environment up, through the product's own statements."""
    from models.db import db

    for tenant, env_id in zip(tenants, environments, strict=True):
        with tenant_scope(tenant.id):
            rollup_maintenance.rebuild(tenant.id, env_id)
            db.commit()
        reset_context()


def settle(admin) -> None:
    """Leave the database as a running one is, not as a bulk load leaves it: vacuumed (hint
    bits and visibility map set, as autovacuum would) and checkpointed (no dirty page for a
    request to write out before it can read): measured straight after a load, requests set hint
    bits and wrote dirty pages out before they could read."""
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
        conn.execute(text("CHECKPOINT"))


def measure(client, tenants, environments, requests: int, only: str) -> dict[str, float]:
    """p95 (ms) of each endpoint over ``requests`` calls spread across the tenants."""
    results: dict[str, list[float]] = {}
    for number in range(requests + len(tenants)):  # the first round per tenant warms up
        tenant = tenants[number % len(tenants)]
        headers = {"Authorization": f"Bearer {tenant.token}"}
        for name, path in endpoints(environments[number % len(tenants)]).items():
            if not name.startswith(only):
                continue
            began = time.perf_counter()
            response = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.status_code} {response.get_data()[:300]}")
            if number >= len(tenants):
                results.setdefault(name, []).append(elapsed)
    return {name: statistics.quantiles(times, n=20)[18] for name, times in results.items()}


def measure_reused(env, admin, requests: int) -> None:
    """p95 of every endpoint over what a kept database holds."""
    from web import create_app

    with admin.begin() as conn:
        rows = conn.execute(text("SELECT tenant_id, id FROM environments ORDER BY id")).all()
    tenants = [common.existing_tenant(tenant_id) for tenant_id, _ in rows]
    client = create_app(env.settings).test_client()
    for name, p95 in measure(client, tenants, [env_id for _, env_id in rows], requests, "").items():
        print(f"{name:<32} {p95:8.1f} ms  {common.verdict(p95 <= TARGET_P95_MS)}")
    print(f"target: p95 <= {TARGET_P95_MS:.0f} ms; at the end, {common.load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--small", type=int, default=100_000, help="executions per tenant")
    parser.add_argument("--large", type=int, default=1_000_000, help="executions per tenant")
    parser.add_argument("--requests", type=int, default=40, help="calls per endpoint per size")
    parser.add_argument("--jobs-only", action="store_true", help="only the jobs endpoints")
    parser.add_argument("--keep", action="store_true", help="leave the database afterwards")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure a kept database")
    args = parser.parse_args()

    with common.bench_environment("growth", keep=args.keep, reuse=args.reuse) as env:
        common.print_header("growth: list and analytics p95 at two data sizes", env)
        common.boot_worker_process(env)
        admin = create_engine(
            dbadmin.url_for(common.ADMIN_URL, database=env.database, user="postgres")
        )
        if args.reuse:
            measure_reused(env, admin, args.requests)
            admin.dispose()
            return
        tenants = [common.make_tenant("admin") for _ in range(args.tenants)]
        with admin.begin() as conn:
            environments = [
                conn.execute(_ENVIRONMENT, {"tenant": t.id}).scalar_one() for t in tenants
            ]
        from web import create_app

        client = create_app(env.settings).test_client()
        figures = {}
        loaded = 0
        for label, per_tenant in (("small", args.small), ("large", args.large)):
            total = per_tenant * args.tenants
            began = time.perf_counter()
            if not args.jobs_only:
                load(admin, environments, _EXECUTIONS, first=loaded + 1, last=total)
            load(
                admin,
                environments,
                _JOBS,
                first=loaded // 10 + 1,
                last=total // 10,
                setup=JOBS_BULK,
                newest=args.large * args.tenants // 10,
            )
            loaded = total
            # Statistics first (committed: they roll back with their transaction): the
            # roll-ups' statement joins what it reads, planned as one row without them.
            with admin.begin() as conn:
                for statement in _JOB_COUNTS:
                    conn.execute(statement)
                conn.execute(text("ANALYZE"))
            if not args.jobs_only:
                rebuild_rollups(tenants, environments)
            settle(admin)
            print(
                f"{label}: {per_tenant:,} executions and {per_tenant // 10:,} jobs per tenant "
                f"x {args.tenants} tenants, loaded in {time.perf_counter() - began:.0f} s"
            )
            only = "jobs" if args.jobs_only else ""
            figures[label] = measure(client, tenants, environments, args.requests, only)

        print(f"\n{'endpoint':<32} {'p95 small':>10} {'p95 large':>10} {'growth':>7}  verdict")
        for name in figures["small"]:
            small, large = figures["small"][name], figures["large"][name]
            ok = large <= TARGET_P95_MS and large / small <= TARGET_GROWTH
            print(
                f"{name:<32} {small:8.1f} ms {large:8.1f} ms {large / small:6.2f}x  "
                f"{common.verdict(ok)}"
            )
        print(
            f"targets: p95 <= {TARGET_P95_MS:.0f} ms at the large size, growth <= "
            f"{TARGET_GROWTH}x; at the end, {common.load_average()}"
        )
        admin.dispose()


if __name__ == "__main__":
    main()
