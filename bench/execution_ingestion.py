"""Execution ingestion rows/s: the service's upsert path against raw COPY + one merge.

Both sides get the same pre-built pages of n8n-shaped execution dicts (as n8n's list answers
them: id, workflowId, status, mode, startedAt, stoppedAt, retryOf), into the same
``executions`` table, each round into a fresh environment (so every row is an insert), as
the app role under row-level security, with workflow names looked up in workflow_env_map.

- Ingestion: ``services.execution_writes.upsert_page`` per ``ingestion.WRITE_BATCH`` listed
  executions (one INSERT ... SELECT FROM jsonb_to_recordset ... ON CONFLICT DO UPDATE ...
  WHERE changed, with the roll-ups' differences), each committed, the way ``ingest`` runs;
  ``--write-batch`` changes it.
- Raw: one psycopg connection; the same dicts turned into tuples, COPY into a temporary
  staging table, then one INSERT ... SELECT ... ON CONFLICT DO UPDATE merge and one commit.

Rounds alternate raw / ingestion after a warm-up; the median round counts. A re-ingestion of
the same pages (nothing changes, nothing is written) is timed too, for information.

    .venv/bin/python bench/execution_ingestion.py [--rows 50000] [--page-size 250] [--rounds 3]
        [--write-batch 1000]

Target: ingestion rows/s at least 0.5 x raw.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import insert, make_url

from bench import common
from models.db import db, init_engine, reset_context, tenant_scope
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import execution_writes, ingestion
from services.config import configure

TARGET_RATIO = 0.5
#: Workflows the executions belong to (all with a known name in workflow_env_map).
WORKFLOWS = 50
#: Share of executions per n8n status, as a busy instance shows them.
STATUS_MIX = {"success": 0.85, "error": 0.08, "crashed": 0.01, "running": 0.03, "waiting": 0.03}
MODES = ("trigger", "webhook", "manual", "retry")

_COLUMNS = (
    "n8n_execution_id",
    "workflow_id",
    "status",
    "normalized_status",
    "started_at",
    "finished_at",
    "mode",
    "retry_of",
)
_STAGING = """
    CREATE TEMP TABLE staging (
        n8n_execution_id text, workflow_id text, status text, normalized_status text,
        started_at timestamptz, finished_at timestamptz, mode text, retry_of text
    ) ON COMMIT DROP"""
_MERGE = """
    INSERT INTO executions (tenant_id, environment_id, n8n_execution_id, workflow_id,
        workflow_name, status, normalized_status, started_at, finished_at, execution_time,
        mode, retry_of)
    SELECT %(tenant)s, %(env)s, s.n8n_execution_id, s.workflow_id, m.workflow_name, s.status,
        s.normalized_status, s.started_at, s.finished_at,
        round(extract(epoch FROM s.finished_at - s.started_at) * 1000)::integer,
        s.mode, s.retry_of
    FROM staging s
    LEFT JOIN workflow_env_map m ON m.tenant_id = %(tenant)s AND m.environment_id = %(env)s
        AND m.n8n_workflow_id = s.workflow_id
    ON CONFLICT (tenant_id, environment_id, n8n_execution_id) DO UPDATE SET
        workflow_id = EXCLUDED.workflow_id, workflow_name = EXCLUDED.workflow_name,
        status = EXCLUDED.status, normalized_status = EXCLUDED.normalized_status,
        started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
        execution_time = EXCLUDED.execution_time, mode = EXCLUDED.mode,
        retry_of = EXCLUDED.retry_of, updated_at = now()"""


def build_pages(rows: int, page_size: int, workflow_ids: list[str]) -> list[list[dict]]:
    """n8n list pages, newest first, of ``rows`` executions over the last few days."""
    rng = random.Random(7)
    statuses, weights = zip(*STATUS_MIX.items(), strict=True)
    now = datetime.now(UTC)
    items = []
    for n8n_id in range(rows, 0, -1):
        status = rng.choices(statuses, weights)[0]
        started = now - timedelta(seconds=(rows - n8n_id) * 5)
        stopped = started + timedelta(milliseconds=rng.randint(5, 60_000))
        mode = rng.choice(MODES)
        items.append(
            {
                "id": str(n8n_id),
                "finished": status == "success",
                "mode": mode,
                "retryOf": str(n8n_id - 1) if mode == "retry" else None,
                "retrySuccessId": None,
                "status": status,
                "startedAt": _iso(started),
                "stoppedAt": None if status in ("running", "waiting") else _iso(stopped),
                "workflowId": rng.choice(workflow_ids),
                "waitTill": None,
            }
        )
    return [items[i : i + page_size] for i in range(0, len(items), page_size)]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_environment(tenant_id: uuid.UUID, workflow_ids: list[str]) -> Environment:
    """An environment row (no n8n behind it) with every workflow's name mapped."""
    with tenant_scope(tenant_id):
        env = Environment(
            name=f"bench-{uuid.uuid4().hex[:8]}",
            url="https://n8n.invalid",
            environment_class="dev",
            drift_handling_mode="warn_only",
        )
        db.add(env)
        db.flush()
        db.execute(
            insert(WorkflowEnvMap),
            [
                {"environment_id": env.id, "n8n_workflow_id": w, "workflow_name": f"Flow {w}"}
                for w in workflow_ids
            ],
        )
        db.commit()
        db.expunge(env)
    reset_context()
    return env


def ingest_side(
    env: Environment, pages: list[list[dict]], *, write_batch: int = ingestion.WRITE_BATCH
) -> tuple[float, int]:
    """The service's path: one upsert statement and one commit per ``write_batch`` listed
    executions; (seconds, written)."""
    written = 0
    listed = [execution for page in pages for execution in page]
    with tenant_scope(env.tenant_id):
        began = time.perf_counter()
        for batch in itertools.batched(listed, write_batch):
            inserted, updated = execution_writes.upsert_page(env, batch)
            db.commit()
            written += inserted + updated
        elapsed = time.perf_counter() - began
    reset_context()
    return elapsed, written


def raw_side(dsn: str, env: Environment, pages: list[list[dict]]) -> tuple[float, int]:
    """COPY the same dicts into a staging table, then merge once; (seconds, written)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(env.tenant_id),))
        conn.commit()
        began = time.perf_counter()
        conn.execute(_STAGING)
        with conn.cursor() as cur:
            with cur.copy(f"COPY staging ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                for page in pages:
                    for e in page:
                        copy.write_row(
                            (
                                e["id"],
                                e["workflowId"],
                                e["status"],
                                execution_writes.normalize_status(e["status"]),
                                e["startedAt"],
                                e["stoppedAt"],
                                e["mode"],
                                e["retryOf"],
                            )
                        )
            cur.execute(_MERGE, {"tenant": env.tenant_id, "env": env.id})
            written = cur.rowcount
        conn.commit()
        elapsed = time.perf_counter() - began
    return elapsed, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=ingestion.PAGE_SIZE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write-batch", type=int, default=ingestion.WRITE_BATCH)
    args = parser.parse_args()

    with common.bench_environment("ingestion") as env:
        common.print_header("execution ingestion: upsert path vs raw COPY + merge", env)
        configure(env.settings)
        init_engine(env.settings.database_url)
        dsn = make_url(env.settings.database_url).set(drivername="postgresql")
        dsn = dsn.render_as_string(hide_password=False)
        tenant = common.make_tenant()
        workflow_ids = [f"wf{n:014d}" for n in range(WORKFLOWS)]
        pages = build_pages(args.rows, args.page_size, workflow_ids)
        print(
            f"{args.rows} executions in {len(pages)} pages of {args.page_size}, written "
            f"{args.write_batch} at a time, per side per round, {args.rounds} rounds after a "
            "warm-up; each round into a fresh environment"
        )
        warmup = pages[: max(1, len(pages) // 10)]
        ingest_side(new_environment(tenant.id, workflow_ids), warmup, write_batch=args.write_batch)
        raw_side(dsn, new_environment(tenant.id, workflow_ids), warmup)

        rates: dict[str, list[float]] = {"raw": [], "ingestion": []}
        for number in range(1, args.rounds + 1):
            for side in ("raw", "ingestion"):
                target = new_environment(tenant.id, workflow_ids)
                if side == "raw":
                    elapsed, written = raw_side(dsn, target, pages)
                else:
                    elapsed, written = ingest_side(target, pages, write_batch=args.write_batch)
                if written != args.rows:
                    raise RuntimeError(f"{side} wrote {written} rows, not {args.rows}")
                rates[side].append(args.rows / elapsed)
                print(f"round {number} {side:>9}: {args.rows / elapsed:9.0f} rows/s")
        again, written = ingest_side(target, pages, write_batch=args.write_batch)

        median = {side: statistics.median(values) for side, values in rates.items()}
        ratio = median["ingestion"] / median["raw"]
        print(f"\nraw COPY + merge rows/s (median of rounds): {median['raw']:9.0f}")
        print(f"ingestion upsert rows/s (median of rounds): {median['ingestion']:9.0f}")
        print(f"ratio ingestion/raw: {ratio:.2f} (target >= {TARGET_RATIO}) ", end="")
        print(common.verdict(ratio >= TARGET_RATIO))
        print(
            f"re-ingesting the same {args.rows} (informational): {args.rows / again:.0f} rows/s, "
            f"{written} rows written"
        )


if __name__ == "__main__":
    main()
