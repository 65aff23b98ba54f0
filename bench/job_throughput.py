"""Throughput of tracked no-op jobs against raw Dramatiq no-op messages, in the same run.

Tracked: ``core.start("noop")`` + commit in the caller's session (enqueued after commit),
then a real dramatiq.Worker claims the row, runs the ``noop`` actor and records completion.
Raw: a plain ``@dramatiq.actor`` that does nothing, sent on the same broker and queue.
Both sides enqueue all N messages first, then a fresh Worker (same threads, same timeout, this
process) drains them; the rate is N over the time from the worker's start to the N-th
completion. Rounds alternate raw / tracked after a warm-up; the median round counts. Each
drain also reports this process's CPU per completion and how busy it was (in cores): the
worker's threads share one GIL, so a drain at about one core is CPU-bound.

    .venv/bin/python bench/job_throughput.py [--jobs 2000] [--rounds 3] [--threads 8]

Target: tracked completions/s at least 0.5 x raw.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dramatiq
from dramatiq.worker import WORKER_TIMEOUT
from sqlalchemy import func, select

from bench import common
from jobs import core
from models.db import db, reset_context, tenant_scope
from models.jobs import BackgroundJob

TARGET_RATIO = 0.5
RAW_ACTOR = "bench_raw_noop"
TRACKED_ACTOR = "noop"
#: raw Dramatiq sends, tracked jobs one per commit, tracked jobs BULK_PER_COMMIT per commit.
SIDES = ("raw", "tracked", "bulk")
#: Longest a drain may take before the benchmark gives up on it, in seconds.
DRAIN_TIMEOUT_S = 120.0


def declare_raw_actor() -> dramatiq.Actor:
    """The baseline: Dramatiq's own cost for a message whose actor does nothing."""

    def bench_raw_noop(job_id: str, tenant_id: str) -> None:
        """Do nothing (the arguments mirror a tracked job's message)."""

    return dramatiq.actor(bench_raw_noop, actor_name=RAW_ACTOR, queue_name="default", max_retries=0)


#: Jobs per commit on the "bulk" side (a bulk rerun, a schedule's fan-out).
BULK_PER_COMMIT = 100


def trigger_tracked(tenant_id: uuid.UUID, count: int, *, per_commit: int = 1) -> float:
    """Start ``count`` noop jobs, ``per_commit`` to a transaction; return the seconds it took."""
    began = time.perf_counter()
    with tenant_scope(tenant_id):
        for number in range(1, count + 1):
            core.start(TRACKED_ACTOR, triggered_by="system")
            if number % per_commit == 0 or number == count:
                db.commit()
    reset_context()
    return time.perf_counter() - began


def send_raw(actor: dramatiq.Actor, tenant_id: uuid.UUID, count: int) -> float:
    began = time.perf_counter()
    tenant = str(tenant_id)
    for _ in range(count):
        actor.send(str(uuid.uuid4()), tenant)
    return time.perf_counter() - began


@dataclass(frozen=True)
class Drain:
    rate: float  # completions per second
    cpu_ms: float  # CPU of this process per completion (all threads, user + system)
    cpu_share: float  # CPU of this process over the drain, in cores


def drain(
    completions: common.Completions, actor_name: str, count: int, args: argparse.Namespace
) -> Drain:
    """Run a fresh worker until ``count`` more messages of ``actor_name`` are processed."""
    target = completions.counts[actor_name] + count
    began, cpu_began = time.perf_counter(), time.process_time()
    with common.running_worker(args.threads, args.worker_timeout):
        if not completions.wait_for(actor_name, target, DRAIN_TIMEOUT_S):
            raise RuntimeError(f"{actor_name}: only {completions.counts[actor_name]} of {target}")
        finished, cpu = completions.last_at[actor_name], time.process_time() - cpu_began
    return Drain(count / (finished - began), cpu / count * 1000, cpu / (finished - began))


def completed_jobs(tenant_id: uuid.UUID) -> int:
    with tenant_scope(tenant_id):
        done = db.scalar(
            select(func.count())
            .where(BackgroundJob.status == "completed")
            .select_from(BackgroundJob)
        )
    reset_context()
    return done


def run_round(side: str, count: int, ctx: dict, args: argparse.Namespace) -> tuple[float, Drain]:
    """Enqueue ``count`` messages of one side, then drain them; (enqueue/s, the drain)."""
    if side in {"tracked", "bulk"}:
        per_commit = BULK_PER_COMMIT if side == "bulk" else 1
        enqueue_s = trigger_tracked(ctx["tenant"].id, count, per_commit=per_commit)
        rate = drain(ctx["completions"], TRACKED_ACTOR, count, args)
    else:
        enqueue_s = send_raw(ctx["raw"], ctx["tenant"].id, count)
        rate = drain(ctx["completions"], RAW_ACTOR, count, args)
    return count / enqueue_s, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="messages per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200, help="messages per side, unmeasured")
    parser.add_argument("--threads", type=int, default=common.PRODUCTION_WORKER_THREADS)
    parser.add_argument(
        "--worker-timeout",
        type=int,
        default=WORKER_TIMEOUT,
        help="Worker's worker_timeout in ms (default: what `dramatiq jobs.worker` uses)",
    )
    args = parser.parse_args()

    with common.bench_environment("throughput") as env:
        common.print_header("job throughput: tracked noop jobs vs raw Dramatiq messages", env)
        broker = common.boot_worker_process(env)
        ctx = {
            "raw": declare_raw_actor(),
            "completions": common.install_completions(broker),
            "tenant": common.make_tenant(),
        }
        print(
            f"{args.jobs} messages per side per round, {args.rounds} rounds after a warm-up of "
            f"{args.warmup}; enqueue all, then drain with dramatiq.Worker(worker_threads="
            f"{args.threads}, worker_timeout={args.worker_timeout}) in this process"
        )
        for side in SIDES:
            run_round(side, args.warmup, ctx, args)

        results: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
        for number in range(1, args.rounds + 1):
            for side in SIDES:
                enqueue_rate, drained = run_round(side, args.jobs, ctx, args)
                results[side].append((enqueue_rate, drained.rate))
                print(
                    f"round {number} {side:>7}: enqueue {enqueue_rate:6.0f}/s, drain "
                    f"{drained.rate:6.0f} completions/s, {drained.cpu_ms:.2f} ms CPU each, "
                    f"process at {drained.cpu_share * 100:.0f} % of a core"
                )

        expected = 2 * ((args.rounds * args.jobs) + args.warmup)  # tracked and bulk
        done = completed_jobs(ctx["tenant"].id)
        print(f"\ntracked jobs completed in the database: {done} of {expected}")

        median = {side: statistics.median(r for _, r in rows) for side, rows in results.items()}
        enqueue = {side: statistics.median(e for e, _ in rows) for side, rows in results.items()}
        ratio = median["tracked"] / median["raw"]
        print(f"raw     completions/s (median of rounds): {median['raw']:8.0f}")
        print(f"tracked completions/s (median of rounds): {median['tracked']:8.0f}")
        print(f"ratio tracked/raw: {ratio:.2f} (target >= {TARGET_RATIO}) ", end="")
        print(common.verdict(ratio >= TARGET_RATIO and done == expected))
        print(
            f"enqueue side (informational): raw send {enqueue['raw']:.0f}/s, tracked "
            f"start+commit+enqueue {enqueue['tracked']:.0f}/s "
            f"(ratio {enqueue['tracked'] / enqueue['raw']:.2f}), {BULK_PER_COMMIT} per commit "
            f"{enqueue['bulk']:.0f}/s (ratio {enqueue['bulk'] / enqueue['raw']:.2f})"
        )
        print(f"at the end, {common.load_average()}")


if __name__ == "__main__":
    main()
