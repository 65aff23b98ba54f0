"""Live updates: 1,000 event-stream subscribers while the API is polled.

The app runs as the Procfile's web process (gunicorn.conf.py: gevent workers). One tenant
subscribes ``--subscribers`` times to GET /api/v1/events/stream (bench/sse_clients.py, one
gevent process). The driver changes a job's progress ``--events`` times (``--rate`` per second)
with plain UPDATEs, as a worker's progress report does; the trigger announces each change and
every subscriber records how long after the UPDATE's time it arrived: once with nothing else
running, then while wrk polls GET /api/v1/jobs/<id> on the same server; the same wrk run
without subscribers, in the same run, is the polling baseline. The delivery baseline is the
same fan-out with no platform (bench/bare_sse.py: a gevent WSGI server handing each NOTIFY
payload to every stream).

    .venv/bin/python bench/live_stream.py [--subscribers 1000] [--events 40] [--rate 4]
        [--duration 10] [--workers 2]

Targets: polling req/s with the subscribers at least 0.8 x without; delivery p99 under 500 ms.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench import common
from bench.job_poll import free_port, load, polled_job, wait_until_served

TARGET_RPS_RATIO = 0.8
TARGET_P99_MS = 500.0
GUNICORN = Path(sys.executable).parent / "gunicorn"


def serve_app(env: dict[str, str], workers: int):
    port = free_port()
    command = [str(GUNICORN), "--config", "gunicorn.conf.py", "web:create_app()"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning"]
    env = {**env, "WEB_METRICS_PORT": str(free_port()), "GUNICORN_CMD_ARGS": "--graceful-timeout 1"}
    return common.supervised(command, env, "gunicorn"), f"http://127.0.0.1:{port}"


def serve_bare(env: dict[str, str]):
    port = free_port()
    command = [sys.executable, "bench/bare_sse.py", "--port", str(port)]
    return common.supervised(command, env, "bare sse"), f"http://127.0.0.1:{port}"


class Subscribers:
    """The subscriber process: started, waited on until every stream is open, stopped."""

    def __init__(self, url: str, token: str, count: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "bench/sse_clients.py", "--url", url, "--token", token,
             "--count", str(count)],
            cwd=common.ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        started = time.monotonic()
        line = self.process.stdout.readline().split()
        self.connect_s = time.monotonic() - started
        if not line or line[0] != "ready":
            raise RuntimeError(f"subscribers did not start: {line}")
        self.open, self.refused = int(line[1]), int(line[2])

    def stop(self) -> dict:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=60)
        return json.loads(out.strip().splitlines()[-1])


def publish(dsn: str, tenant_id, job_id: str, events: int, rate: float) -> None:
    """Change the job's progress ``events`` times, stamped with the time of the UPDATE. The
    tenant is watched throughout, as its open streams keep it (the bare fan-out keeps none)."""
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant_id),))
        conn.execute(
            "INSERT INTO live_watches (tenant_id, watched_until) VALUES (%s, now() + %s)"
            " ON CONFLICT (tenant_id) DO UPDATE SET watched_until = excluded.watched_until",
            (tenant_id, timedelta(seconds=2 * events / rate + 60)),
        )
        conn.commit()
        for number in range(events):
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant_id),))
            conn.execute(
                "UPDATE background_jobs SET progress = jsonb_build_object("
                "'current', %s::int, 'percentage', %s::int, 'message', %s::text) WHERE id = %s",
                (number, number % 100, f"t={time.time():.6f}", job_id),
            )
            conn.commit()
            time.sleep(1 / rate)


def deliveries(args, dsn, tenant, job_id, *, url: str, token: str) -> tuple[Subscribers, dict]:
    """Subscribe, publish, collect (nothing else running)."""
    subscribers = Subscribers(url, token, args.subscribers)
    time.sleep(1)
    publish(dsn, tenant.id, job_id, args.events, args.rate)
    time.sleep(1)
    return subscribers, subscribers.stop()


def report(label: str, subscribers: Subscribers, outcome: dict, expected: int) -> float:
    latencies = outcome["latencies_ms"]
    p50, p99 = common.percentile(latencies, 50), common.percentile(latencies, 99)
    print(
        f"{label:>8}: {subscribers.open} streams open in {subscribers.connect_s:.1f} s "
        f"({subscribers.refused} refused, {outcome['broken']} broken); "
        f"{len(latencies)}/{expected} deliveries; p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )
    return p99


def while_polled(args, dsn, tenant, job_id, *, stream_url: str, poll_url: str):
    """Deliveries while wrk polls the job: the polling result and the delivery p99."""
    subscribers = Subscribers(stream_url, tenant.token, args.subscribers)
    polled = {}

    def poll() -> None:
        try:
            polled["r"] = load(poll_url, tenant.token, args.duration, args)
        except (subprocess.SubprocessError, KeyError, AttributeError) as error:
            polled["error"] = error

    poller = threading.Thread(target=poll)
    poller.start()
    publish(dsn, tenant.id, job_id, args.events, args.rate)
    poller.join()
    time.sleep(1)
    p99 = report("app+poll", subscribers, subscribers.stop(), args.subscribers * args.events)
    if "error" in polled:
        raise SystemExit(f"polling with the subscribers failed: {polled['error']!r}")
    busy = polled["r"]
    print(
        f"polling with {subscribers.open} streams open: {busy.rps:.0f} req/s, "
        f"p99 {busy.p99_ms:.1f} ms, {busy.errors} errors"
    )
    return busy, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--rate", type=float, default=4.0, help="changes per second")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn --workers")
    parser.add_argument("--connections", type=int, default=8, help="wrk -c")
    args = parser.parse_args()
    args.keepalive, args.wrk_threads = False, 1

    with common.bench_environment("live") as env:
        common.print_header("live updates: SSE subscribers while the API is polled", env)
        common.boot_worker_process(env)
        tenant = common.make_tenant("viewer")
        job_id = polled_job(tenant.id)
        dsn = env.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
        expected = args.subscribers * args.events
        print(
            f"gunicorn --workers {args.workers} (gevent); {args.subscribers} subscribers; "
            f"{args.events} changes at {args.rate}/s; wrk -c{args.connections} "
            f"-d{args.duration}s, Connection: close"
        )
        app_server, app_url = serve_app(env.process_env(), args.workers)
        bare_server, bare_url = serve_bare(env.process_env())
        with app_server, bare_server:
            poll_url = f"{app_url}/api/v1/jobs/{job_id}"
            wait_until_served(poll_url, tenant.token)
            load(poll_url, tenant.token, 3, args)  # warm-up
            alone = load(poll_url, tenant.token, args.duration, args)
            print(f"polling alone: {alone.rps:.0f} req/s, p99 {alone.p99_ms:.1f} ms")

            stream_url = f"{app_url}/api/v1/events/stream"
            quiet = deliveries(args, dsn, tenant, job_id, url=stream_url, token=tenant.token)
            report("app", *quiet, expected)
            busy, app_p99 = while_polled(
                args, dsn, tenant, job_id, stream_url=stream_url, poll_url=poll_url
            )
            bare = deliveries(args, dsn, tenant, job_id, url=bare_url, token="")
            bare_p99 = report("bare", *bare, expected)

        ratio = busy.rps / alone.rps
        print(
            f"polling ratio with/without subscribers: {ratio:.2f} (target >= {TARGET_RPS_RATIO}) "
            f"{common.verdict(ratio >= TARGET_RPS_RATIO and busy.errors == 0)}"
        )
        print(
            f"delivery p99 while polled: {app_p99:.1f} ms (target < {TARGET_P99_MS:.0f} ms) "
            f"{common.verdict(app_p99 < TARGET_P99_MS)}; bare fan-out p99 {bare_p99:.1f} ms"
        )
        print(f"at the end, {common.load_average()}")


if __name__ == "__main__":
    main()
