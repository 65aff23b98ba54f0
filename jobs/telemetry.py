"""What a worker tells about its jobs: the log context of each one, its duration and outcome
as metrics, and the process's presence (with its encryption key ids) while it runs."""

from __future__ import annotations

import os
import threading
import time

import dramatiq
from dramatiq.middleware import Middleware

from jobs import core
from services import config, logs, metrics, presence

#: Set by the Procfile's worker line: Dramatiq's own Prometheus middleware serves metrics.
PROMETHEUS_PORT_VARIABLE = "dramatiq_prom_port"


_outcome = threading.local()


def report_outcome(outcome: str) -> None:
    """How this thread's job attempt ended (jobs.actor.execute's answer), for the metrics."""
    _outcome.value = outcome


class JobTelemetry(Middleware):
    """Binds job id, type and tenant to the thread's log records while a tracked job runs, and
    records its duration by kind and outcome (``report_outcome``)."""

    def __init__(self) -> None:
        self._running = threading.local()

    def after_worker_boot(self, broker, worker) -> None:
        presence.start("worker", config.current())

    def before_worker_shutdown(self, broker, worker) -> None:
        presence.stop()

    def before_process_message(self, broker, message) -> None:
        job_type = _job_types().get(message.actor_name)
        if job_type is None or len(message.args) != 2:
            return
        job_id, tenant_id = message.args
        context = {"job_id": job_id, "job_type": job_type, "tenant_id": tenant_id}
        _outcome.value = None
        self._running.job = (job_type, time.perf_counter(), logs.current_job.set(context))

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        running = getattr(self._running, "job", None)
        if running is None:
            return
        self._running.job = None
        job_type, started, token = running
        outcome = getattr(_outcome, "value", None) or ("crashed" if exception else "unknown")
        metrics.get().jobs.labels(job_type, outcome).observe(time.perf_counter() - started)
        logs.current_job.reset(token)

    after_skip_message = after_process_message


def _job_types() -> dict[str, str]:
    return {policy.actor_name: policy.job_type for policy in core.registered_policies()}


def instrument_worker(broker: dramatiq.Broker) -> None:
    """Add Dramatiq's Prometheus middleware when the worker was started to serve metrics (its
    port, address and per-start directory come from the Procfile's environment)."""
    if os.environ.get(PROMETHEUS_PORT_VARIABLE, "0") == "0":
        return
    from dramatiq.middleware.prometheus import Prometheus

    broker.add_middleware(Prometheus())
