"""Polling a job: GET /api/v1/jobs/<id> of the real app against a bare Flask endpoint that
reads the same row by primary key, both served by gunicorn with the same flags and loaded by
wrk with the same flags, in the same run.

The job endpoint is the full path: a personal token resolved through the SECURITY DEFINER
lookup, the role check, the job and its reruns read as the tenant under row-level security,
marshmallow serialisation and the ETag. The bare endpoint (bench/bare_app.py) is what a
developer would write with no platform: flask-smorest, a schema, one primary-key select on
SQLAlchemy's default engine as a role RLS does not apply to, no tenant, no authentication.
gunicorn runs both as the Procfile's web process does (gunicorn.conf.py: gevent, --workers 2
by default, --threads 4 under gthread, the JSON access log, metrics in multiprocess mode on a
port of each side's own, each worker's heap frozen once loaded).
wrk runs workers x threads connections and closes it after each request (Connection:
close): kept-alive connections stay with whichever worker accepted them, so with keep-alive
a run lands 4/4 or 8/0 on the two workers and req/s swings twofold between runs. Each side is
warmed up, then measured in rounds that alternate bare / job; the median round counts.

    .venv/bin/python bench/job_poll.py [--duration 10] [--rounds 3] [--workers 2] [--threads 4]
        [--keepalive] [--worker-class gevent|gthread|sync]

Needs wrk (Debian/Ubuntu: apt-get install -y wrk). Targets (issue 13): job req/s at least
0.7 x bare, job p99 at most 1.5 x bare.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from jobs import attempts, core
from models.db import db, reset_context, tenant_scope
from services import dbadmin

TARGET_RPS_RATIO = 0.7
TARGET_P99_RATIO = 1.5
GUNICORN = Path(sys.executable).parent / "gunicorn"
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class LoadResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:  # loopback, our own server
        return response.status, response.read()


@contextmanager
def gunicorn(app: str, port: int, env: dict[str, str], args: argparse.Namespace) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:``port`` until the block ends; yields the base URL."""
    command = [
        str(GUNICORN),
        "--config",
        "gunicorn.conf.py",
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--worker-class",
        args.worker_class,
        "--log-level",
        "warning",
    ]
    env = {**env, "WEB_METRICS_PORT": str(free_port())}
    with common.supervised(command, env, f"gunicorn {app}"):
        yield f"http://127.0.0.1:{port}"


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``gunicorn`` reads: worker count, threads and class."""
    parser.add_argument("--workers", type=int, default=2, help="gunicorn --workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn --threads")
    parser.add_argument(
        "--worker-class",
        default=os.environ.get("WEB_WORKER_CLASS", "gevent"),
        help="gunicorn --worker-class (gevent, as gunicorn.conf.py; gthread, sync)",
    )


def wait_until_served(url: str, token: str, timeout: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, body = _get(url, token)
            if status == 200:
                return body
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")
        time.sleep(0.2)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * _UNITS_MS[unit]


def load(url: str, token: str, seconds: int, args: argparse.Namespace) -> LoadResult:
    """One wrk run; latency percentiles from wrk's --latency distribution."""
    output = subprocess.run(
        [
            "wrk",
            f"-t{args.wrk_threads}",
            f"-c{args.connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            *([] if args.keepalive else ["-H", "Connection: close"]),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    # wrk pads a value in seconds ("1.13s "): trailing blanks allowed.
    percentiles = dict(re.findall(r"^\s+(50|99)\.000%\s+(\S+)\s*$", output, re.M))
    if not percentiles:
        percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    errors += sum(int(n) for n in re.findall(r"Socket errors: .*?(\d+)", output))
    return LoadResult(
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        errors=errors,
    )


def polled_job(tenant_id) -> str:
    """A running job with progress, the row a client typically polls."""
    with tenant_scope(tenant_id):
        job = core.start("noop", params={"steps": 10, "step_seconds": 1})
        db.commit()
        job_id = job.id
    reset_context()
    claim = attempts.claim(job_id, tenant_id, message_id=None)
    attempts.heartbeat(claim, {"current": 4, "total": 10, "percentage": 40, "message": "step 4"})
    return str(job_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per side")
    parser.add_argument("--rounds", type=int, default=3)
    add_server_arguments(parser)
    parser.add_argument("--connections", type=int, help="wrk -c (default workers x threads)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t")
    parser.add_argument(
        "--keepalive",
        action="store_true",
        help="reuse wrk's connections (they stick to the worker that accepted them)",
    )
    args = parser.parse_args()
    args.connections = args.connections or args.workers * args.threads
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu), brew install wrk")
        return

    with common.bench_environment("poll") as env:
        common.print_header("job poll: GET /api/v1/jobs/<id> vs a bare primary-key select", env)
        common.boot_worker_process(env)
        tenant = common.make_tenant("viewer")
        job_id = polled_job(tenant.id)
        process_env = {
            **env.process_env(),
            "BENCH_BARE_DATABASE_URL": dbadmin.url_for(
                common.ADMIN_URL, database=env.database, user="postgres"
            ),
        }
        print(
            f"gunicorn --workers {args.workers} --threads {args.threads} ({args.worker_class}) "
            "on loopback; "
            f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s --latency"
            f"{'' if args.keepalive else ' -H Connection:close'}; "
            f"{args.warmup} s warm-up per side, {args.rounds} rounds"
        )
        with (
            gunicorn("web:create_app()", free_port(), process_env, args) as job_base,
            gunicorn("bench.bare_app:create_app()", free_port(), process_env, args) as bare_base,
        ):
            urls = {
                "bare": f"{bare_base}/bare/jobs/{job_id}",
                "job": f"{job_base}/api/v1/jobs/{job_id}",
            }
            for side, url in urls.items():
                body = json.loads(wait_until_served(url, tenant.token))
                assert body["id"] == job_id, f"{side} answered {body}"
                print(f"{side:>4}: GET {url.split('/', 3)[3]} -> {len(json.dumps(body))} bytes")
                load(url, tenant.token, args.warmup, args)

            results: dict[str, list[LoadResult]] = {"bare": [], "job": []}
            for number in range(1, args.rounds + 1):
                for side, url in urls.items():
                    result = load(url, tenant.token, args.duration, args)
                    results[side].append(result)
                    print(
                        f"round {number} {side:>4}: {result.rps:8.0f} req/s, p50 "
                        f"{result.p50_ms:6.2f} ms, p99 {result.p99_ms:6.2f} ms, "
                        f"{result.requests} requests, {result.errors} errors"
                    )

        median = {
            side: {
                "rps": statistics.median(r.rps for r in rows),
                "p50": statistics.median(r.p50_ms for r in rows),
                "p99": statistics.median(r.p99_ms for r in rows),
            }
            for side, rows in results.items()
        }
        errors = sum(r.errors for rows in results.values() for r in rows)
        print()
        for side in ("bare", "job"):
            m = median[side]
            print(
                f"{side:>4} (median of rounds): {m['rps']:8.0f} req/s, p50 {m['p50']:6.2f} ms, "
                f"p99 {m['p99']:6.2f} ms"
            )
        rps_ratio = median["job"]["rps"] / median["bare"]["rps"]
        p50_ratio = median["job"]["p50"] / median["bare"]["p50"]
        p99_ratio = median["job"]["p99"] / median["bare"]["p99"]
        print(f"errors (non-2xx or socket): {errors}")
        print(
            f"req/s ratio job/bare: {rps_ratio:.2f} (target >= {TARGET_RPS_RATIO}) "
            f"{common.verdict(rps_ratio >= TARGET_RPS_RATIO and errors == 0)}"
        )
        print(f"p50 ratio job/bare: {p50_ratio:.2f} (informational)")
        print(
            f"p99 ratio job/bare: {p99_ratio:.2f} (target <= {TARGET_P99_RATIO}) "
            f"{common.verdict(p99_ratio <= TARGET_P99_RATIO and errors == 0)}"
        )
        print(f"at the end, {common.load_average()}")


if __name__ == "__main__":
    main()
