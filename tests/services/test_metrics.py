"""services/metrics.py: serving a process's metrics."""

from __future__ import annotations

import logging
import socket

from services import metrics


def test_a_port_already_served_leaves_the_process_running_without_metrics(caplog):
    """Two clocks overlap during a deploy on one host: the second finds the metrics port
    taken and runs on (it once died at start, and the first clock's restart left no clock)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="services.metrics"):
            metrics.serve(port, "127.0.0.1")
    assert f"metrics: not served on 127.0.0.1:{port}" in caplog.text
