"""Prometheus metrics of the platform (prometheus-client), served on a port of their own per
process, never on the API's: tenants cannot reach them.

- web: gunicorn's master serves every worker's metrics (multiprocess mode, gunicorn.conf.py)
  on WEB_METRICS_PORT;
- worker: Dramatiq's Prometheus middleware serves its message metrics and ours (multiprocess,
  Procfile) on WORKER_METRICS_PORT;
- clock: the scheduler serves relay, reaper and queue-depth metrics on CLOCK_METRICS_PORT.

prometheus_client decides at its import whether values live in per-process files
(PROMETHEUS_MULTIPROC_DIR), so it is imported only when the first metric is needed, after
the process set that up at boot.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

#: Seconds: buckets of the request and n8n call histograms (5 ms to 30 s).
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Seconds: buckets of the job duration histogram (10 ms to an hour).
JOB_BUCKETS_S = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class Metrics:
    """Every metric the platform's own code records."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.http_requests = Histogram(
            "n8nops_http_request_duration_seconds",
            "API requests by method, route and status, and how long they took.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS_S,
        )
        self.jobs = Histogram(
            "n8nops_job_duration_seconds",
            "Job attempts by kind and outcome, and how long they ran.",
            ["job_type", "outcome"],
            buckets=JOB_BUCKETS_S,
        )
        self.n8n_calls = Histogram(
            "n8nops_n8n_request_duration_seconds",
            "Calls to n8n instances by environment class, endpoint and outcome ('ok' or the"
            " error), and how long each attempt took.",
            ["environment_class", "endpoint", "outcome"],
            buckets=LATENCY_BUCKETS_S,
        )
        self.relay_sent = Counter(
            "n8nops_relay_sent_jobs", "Pending jobs the outbox relay handed to the broker."
        )
        self.reaped = Counter(
            "n8nops_reaper_jobs",
            "Running jobs the reaper found silent, by what it did (requeued or failed).",
            ["action"],
        )


_metrics: Metrics | None = None
_created = threading.Lock()


def get() -> Metrics:
    """The process's metrics, created on first use (once, whichever thread comes first)."""
    global _metrics  # noqa: PLW0603 - one set of metrics per process
    if _metrics is None:
        with _created:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


class QueueDepth:
    """A collector: messages waiting or in flight in each Dramatiq queue, read at scrape time."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "n8nops_queue_depth",
            "Messages in each queue that are not done yet (waiting, delayed or in flight).",
            labels=["queue"],
        )
        for queue in sorted(self.broker.get_declared_queues()):
            family.add_metric([queue], self.broker.do_qsize(queue))
        yield family


def serve(port: int, host: str, *, multiprocess: bool = False, collectors=()) -> None:
    """Serve this process's metrics (or, with ``multiprocess``, those of every process that
    shares PROMETHEUS_MULTIPROC_DIR) on ``host:port`` from a daemon thread; 0 disables."""
    if not port:
        return
    import prometheus_client
    from prometheus_client import multiprocess as mp

    registry = prometheus_client.REGISTRY
    if multiprocess:
        registry = prometheus_client.CollectorRegistry()
        mp.MultiProcessCollector(registry)
    for collector in collectors:
        registry.register(collector)
    try:
        prometheus_client.start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        # Another process of the same kind on this host has the port: during a deploy, two
        # clocks overlap on purpose. This one runs on without an endpoint of its own.
        log.warning("metrics: not served on %s:%d (%s)", host, port, error.strerror or error)
