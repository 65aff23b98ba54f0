"""Trigger-to-running latency: from a trigger's commit to its job being ``running``, with the
worker idle and waiting, against a raw Dramatiq message's send-to-start in the same run.

The worker is the production process, `dramatiq jobs.worker` with the Procfile's flags
(--processes 1 --threads 8, and its poll timeout), plus bench/latency_probe.py for the
baseline. Jobs are triggered one at a time (``core.start("noop")`` + commit); the clock starts
when PostgreSQL has committed the trigger's transaction (before the job core enqueues) and
stops at the job's ``started_at`` (the claim transaction's now(), same host clock). The
baseline's clock runs from ``send()`` to the probe actor's first line. Tracked jobs and probes
alternate with idle gaps long enough for the consumers to settle into their idle polling.

Dramatiq's Redis consumer polls: an idle consumer sleeps between fetches, backing off up to the
Worker's ``worker_timeout`` (sleeps of 50-100 % of it). `dramatiq` takes it from the
environment variable ``dramatiq_worker_timeout`` (default 1000 ms), which the Procfile sets
(WORKER_POLL_MS, 20 ms by default). The Procfile's setting is measured, and Dramatiq's own
default for comparison.

    .venv/bin/python bench/trigger_latency.py [--jobs 300] [--default-jobs 25]

Target: p50 under 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dramatiq
from sqlalchemy import event, select

from bench import common
from jobs import core
from models.db import SessionFactory, db, reset_context, tenant_scope
from models.jobs import TERMINAL_STATUSES, BackgroundJob

TARGET_P50_MS = 20.0
#: dramatiq.worker.WORKER_TIMEOUT when the environment does not set dramatiq_worker_timeout.
DEFAULT_WORKER_TIMEOUT_MS = 1000
PROCFILE = Path(__file__).resolve().parent.parent / "Procfile"


def procfile_poll_ms() -> int:
    """The worker's poll timeout as the Procfile sets it (its default value), in ms."""
    found = re.search(r"dramatiq_worker_timeout=\$\{WORKER_POLL_MS:-(\d+)\}", PROCFILE.read_text())
    if found is None:
        raise SystemExit("the Procfile's worker line sets no dramatiq_worker_timeout")
    return int(found.group(1))


DRAMATIQ = Path(sys.executable).parent / "dramatiq"
#: Seconds to wait for one job or probe before giving up on the run.
WAIT_TIMEOUT_S = 30.0
#: Seconds between reads of the job row while waiting for it to finish (pacing only: the
#: latency comes from the row's timestamps).
POLL_S = 0.005


class CommitClock:
    """The wall-clock time of the last session commit, taken right after PostgreSQL commits
    and before the job core's after_commit hook enqueues."""

    def __init__(self) -> None:
        self.at = 0.0
        event.listen(SessionFactory, "after_commit", self._mark, insert=True)

    def _mark(self, session) -> None:
        self.at = time.time()


@dataclass
class Samples:
    tracked: list[float] = field(default_factory=list)
    tracked_from_return: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)


@contextmanager
def worker_process(env: common.BenchEnv, timeout_ms: int | None, threads: int) -> Iterator[int]:
    """`dramatiq jobs.worker bench.latency_probe` as the Procfile runs it; yields its pid."""
    process_env = env.process_env()
    process_env.pop("dramatiq_worker_timeout", None)
    if timeout_ms is not None:
        process_env["dramatiq_worker_timeout"] = str(timeout_ms)
    command = [
        str(DRAMATIQ),
        "jobs.worker",
        "bench.latency_probe",
        "--processes",
        "1",
        "--threads",
        str(threads),
        "--worker-shutdown-timeout",
        "25000",
    ]
    with common.supervised(command, process_env, "worker") as pid:
        yield pid


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (Linux /proc)."""
    total = 0.0
    pending = [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / tick
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending.extend(int(child) for child in children)
    return total


def run_tracked(tenant_id: uuid.UUID, clock: CommitClock) -> tuple[float, float]:
    """Trigger one noop job and wait for it; (seconds from commit, from commit() returning)."""
    with tenant_scope(tenant_id):
        job_id = core.start("noop", triggered_by="system").id
        db.commit()
        returned = time.time()
        committed = clock.at
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while True:
            row = db.execute(
                select(BackgroundJob.status, BackgroundJob.started_at).where(
                    BackgroundJob.id == job_id
                )
            ).one()
            db.rollback()
            if row.status in TERMINAL_STATUSES:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} still {row.status} after {WAIT_TIMEOUT_S} s")
            time.sleep(POLL_S)
    reset_context()
    started = row.started_at.timestamp()
    return started - committed, started - returned


def run_probe(sequence: int) -> float:
    """Send one probe and wait for it; seconds from send() to the actor's start."""
    from bench import latency_probe

    broker = dramatiq.get_broker()
    sent = time.time()
    latency_probe.probe.send(sequence)
    while True:
        popped = broker.client.blpop(latency_probe.started_key(broker), timeout=WAIT_TIMEOUT_S)
        if popped is None:
            raise RuntimeError(f"probe {sequence} did not start within {WAIT_TIMEOUT_S} s")
        number, started = json.loads(popped[1])
        if number == sequence:
            return started - sent


def measure(
    tenant_id: uuid.UUID, clock: CommitClock, count: int, gap_s: tuple[float, float]
) -> Samples:
    """``count`` tracked jobs and ``count`` probes, alternating, each after an idle gap."""
    samples = Samples()
    for sequence in range(count):
        time.sleep(random.uniform(*gap_s))
        from_commit, from_return = run_tracked(tenant_id, clock)
        samples.tracked.append(from_commit)
        samples.tracked_from_return.append(from_return)
        time.sleep(random.uniform(*gap_s))
        samples.raw.append(run_probe(sequence))
    return samples


def report(label: str, samples: Samples) -> tuple[float, float]:
    tracked = common.summary_ms(samples.tracked)
    raw = common.summary_ms(samples.raw)
    after_return = common.summary_ms(samples.tracked_from_return)
    print(f"  {label}")
    for name, s, n in (
        ("tracked, from commit", tracked, len(samples.tracked)),
        ("tracked, from commit() returning", after_return, len(samples.tracked)),
        ("raw Dramatiq, from send()", raw, len(samples.raw)),
    ):
        print(
            f"    {name:<34} n={n:<4} p50 {s['p50']:7.1f} ms  p90 {s['p90']:7.1f}  "
            f"p99 {s['p99']:7.1f}  mean {s['mean']:7.1f}  max {s['max']:7.1f}"
        )
    print(
        f"    ratio tracked/raw: p50 {tracked['p50'] / raw['p50']:.2f}, "
        f"p99 {tracked['p99'] / raw['p99']:.2f}"
    )
    return tracked["p50"], tracked["p99"]


def run_config(
    env: common.BenchEnv,
    tenant_id: uuid.UUID,
    clock: CommitClock,
    *,
    timeout_ms: int | None,
    count: int,
    args: argparse.Namespace,
) -> tuple[float, float]:
    effective = timeout_ms or DEFAULT_WORKER_TIMEOUT_MS
    # Long enough for an idle consumer to reach its longest sleeps (the backoff starts at
    # 5-10 ms and doubles), then a random phase within them.
    gap = (max(0.05, effective / 1000), max(0.08, effective / 1000 * 1.5))
    with worker_process(env, timeout_ms, args.threads) as pid:
        for sequence in range(-5, 0):  # warm-up: boot, connections, prepared statements
            run_probe(sequence)
            run_tracked(tenant_id, clock)
        time.sleep(2 * gap[1])
        before, began = process_tree_cpu_s(pid), time.monotonic()
        time.sleep(3.0)
        idle_cpu = (process_tree_cpu_s(pid) - before) / (time.monotonic() - began)
        samples = measure(tenant_id, clock, count, gap)
    setting = (
        f"dramatiq_worker_timeout={timeout_ms}"
        if timeout_ms is not None
        else "dramatiq_worker_timeout unset: Dramatiq's default"
    )
    print(
        f"worker_timeout {effective} ms ({setting}); idle gaps {gap[0] * 1000:.0f}-"
        f"{gap[1] * 1000:.0f} ms; idle worker CPU {idle_cpu * 100:.1f} % of a core"
    )
    return report(f"worker_timeout={effective} ms", samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300, help="jobs (and probes), Procfile run")
    parser.add_argument(
        "--default-jobs", type=int, default=25, help="jobs (and probes), Dramatiq default run"
    )
    parser.add_argument("--threads", type=int, default=common.PRODUCTION_WORKER_THREADS)
    args = parser.parse_args()

    with common.bench_environment("latency") as env:
        common.print_header("trigger-to-running latency, idle worker", env)
        common.boot_worker_process(env)
        from bench import latency_probe  # declares the probe on this process's broker

        queues = sorted(dramatiq.get_broker().get_declared_queues())
        print(
            f"worker: dramatiq jobs.worker {latency_probe.__name__} --processes 1 --threads "
            f"{args.threads}, consuming {', '.join(queues)} (and each one's delay queue); "
            "trigger: core.start('noop') + commit, one at a time\n"
        )
        tenant = common.make_tenant()
        clock = CommitClock()
        poll_ms = procfile_poll_ms()
        production = run_config(
            env, tenant.id, clock, timeout_ms=poll_ms, count=args.jobs, args=args
        )
        print()
        default = run_config(
            env, tenant.id, clock, timeout_ms=None, count=args.default_jobs, args=args
        )
        print()
        for label, (p50, p99) in (
            (f"production worker (Procfile: worker_timeout {poll_ms} ms)", production),
            (f"Dramatiq's default worker_timeout {DEFAULT_WORKER_TIMEOUT_MS} ms", default),
        ):
            print(
                f"target p50 < {TARGET_P50_MS:.0f} ms, {label}: p50 {p50:.1f} ms, p99 {p99:.1f} "
                f"ms: {common.verdict(p50 < TARGET_P50_MS)}"
            )
        print(f"at the end, {common.load_average()}")


if __name__ == "__main__":
    main()
