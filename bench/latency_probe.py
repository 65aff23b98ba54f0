"""The raw Dramatiq baseline of bench/trigger_latency.py: an actor that notes when it starts.

Imported after the broker is set up, both by the benchmark (to send) and by the worker
subprocess it starts (`dramatiq jobs.worker bench.latency_probe`), which runs it beside the
tracked actors with the same flags. Each run pushes ``[sequence, started_at]`` (epoch seconds)
onto a Redis list of the benchmark's namespace. The probe has its own queue, so its consumer
idles between probes exactly as the tracked jobs' consumer does between jobs.
"""

from __future__ import annotations

import json
import time

import dramatiq

ACTOR_NAME = "bench_latency_probe"
QUEUE = "bench_probe"


def started_key(broker: dramatiq.Broker) -> str:
    return f"{broker.namespace}:bench-probe-started"


def _probe(sequence: int) -> None:
    """Note the start time; nothing else."""
    started = time.time()
    broker = dramatiq.get_broker()
    broker.client.rpush(started_key(broker), json.dumps([sequence, started]))


probe = dramatiq.actor(_probe, actor_name=ACTOR_NAME, queue_name=QUEUE, max_retries=0)
