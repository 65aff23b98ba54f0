"""One demo n8n instance: the test suite's fake n8n (tests/fake_n8n), served on loopback and
seeded from scripts/demo_data.json, until SIGTERM or Ctrl-C.

    python -m scripts.demo_n8n --instance dev --port 5679
"""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import UTC, datetime, timedelta

from scripts.demo import instances
from tests.fake_n8n import FakeN8n


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seeded(instance: dict) -> FakeN8n:
    """A fake n8n holding the instance's workflows, executions and credentials."""
    fake = FakeN8n(version=instance.get("version", "2.x"), api_key=instance["api_key"])
    ids = {}
    for workflow in instance["workflows"]:
        body = {k: workflow[k] for k in ("name", "nodes", "connections", "settings")}
        stored = fake.add_workflow(body, active=workflow["active"], tags=workflow["tags"])
        ids[workflow["name"]] = stored["id"]
    now = datetime.now(UTC)
    for execution in instance["executions"]:
        started = now - timedelta(minutes=execution["minutes_ago"])
        fake.add_execution(
            ids[execution["workflow"]],
            status=execution["status"],
            mode=execution.get("mode", "trigger"),
            error_message=execution.get("error_message"),
            error_node=execution.get("error_node"),
            started_at=_iso(started),
            stopped_at=_iso(started + timedelta(seconds=execution.get("duration_s", 1.0))),
        )
    for credential in instance["credentials"]:
        fake.add_credential(credential["name"], credential["type"])
    return fake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instance", required=True, choices=sorted(instances()))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    fake = seeded(instances()[args.instance])
    fake.port = args.port
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    with fake:
        print(f"demo n8n {args.instance!r} at {fake.url}", flush=True)
        stopped.wait()


if __name__ == "__main__":
    main()
