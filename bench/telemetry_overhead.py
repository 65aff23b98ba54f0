"""What the logging and metrics cost per request and per job, in CPU, measured in-process so
that the figures hold on a busy machine (where the poll and throughput benchmarks swing).

Each pair runs in the same process, alternating rounds, the median round counting:
- request: GET / through the Flask test client with the observability hooks (timer, header
  limits, the request histogram, the access log's environ) against the same app without them;
- job message: JobTelemetry's before/after around a message (log context and the job
  histogram, in multiprocess mode as under the Procfile) against no middleware call at all;
- access log line: gunicorn's JSON access line (services.logs.GunicornLogger) against
  gunicorn's own text line, both written to /dev/null.

    .venv/bin/python bench/telemetry_overhead.py [--n 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

# Values in per-process files, as gunicorn.conf.py and the Procfile's worker set up.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="n8nops-bench-"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dramatiq

from bench import common


def _cpu_us(func, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        func()
    return (time.process_time() - started) / n * 1e6


def _pair(label: str, measured, baseline, n: int, rounds: int) -> None:
    ours, bare = [], []
    for _ in range(rounds):
        bare.append(_cpu_us(baseline, n))
        ours.append(_cpu_us(measured, n))
    m, b = statistics.median(ours), statistics.median(bare)
    print(f"{label:<16} with {m:8.1f} us, without {b:8.1f} us, cost {m - b:7.1f} us")


def requests(env: common.BenchEnv, n: int, rounds: int) -> None:
    from web import create_app

    app = create_app(env.settings.with_overrides(testing=True))
    plain = create_app(env.settings.with_overrides(testing=True))
    for funcs in (plain.before_request_funcs, plain.after_request_funcs):
        funcs[None] = [f for f in funcs.get(None, []) if f.__module__ != "web.observability"]
    client, bare = app.test_client(), plain.test_client()
    _pair("request GET /", lambda: client.get("/"), lambda: bare.get("/"), n // 10, rounds)


def job_messages(n: int, rounds: int) -> None:
    from jobs.telemetry import JobTelemetry, report_outcome

    broker = dramatiq.get_broker()
    middleware = JobTelemetry()
    message = dramatiq.Message(
        queue_name="default",
        actor_name="noop",
        args=(str(uuid.uuid4()), str(uuid.uuid4())),
        kwargs={},
        options={},
    )

    def tracked():
        middleware.before_process_message(broker, message)
        report_outcome("completed")
        middleware.after_process_message(broker, message)

    _pair("job message", tracked, lambda: None, n, rounds)


def access_lines(n: int, rounds: int) -> None:
    from gunicorn import glogging
    from gunicorn.config import Config

    from services.logs import GunicornLogger

    config = Config()
    config.set("accesslog", os.devnull)
    json_logger, text_logger = GunicornLogger(config), glogging.Logger(config)
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])
    request = SimpleNamespace(
        method="GET", path="/api/v1/jobs/x", query="", version=(1, 1), headers=[]
    )
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v1/jobs/x",
        "PATH_INFO": "/api/v1/jobs/x",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "n8nops.route": "/api/v1/jobs/<uuid:job_id>",
    }
    took = timedelta(milliseconds=3)
    _pair(
        "access log line",
        lambda: json_logger.access(response, request, environ, took),
        lambda: text_logger.access(response, request, environ, took),
        n,
        rounds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with common.bench_environment("telemetry") as env:
        common.print_header("telemetry overhead: CPU per request, job message, access line", env)
        common.boot_worker_process(env)
        requests(env, args.n, args.rounds)
        job_messages(args.n, args.rounds)
        access_lines(args.n, args.rounds)
        print(f"at the end, {common.load_average()}")


if __name__ == "__main__":
    main()
