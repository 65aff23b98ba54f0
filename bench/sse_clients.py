"""Many event-stream subscribers in one gevent process, for bench/live_stream.py.

Opens ``--count`` connections to ``--url`` (HTTP/1.0, so the body is not chunked), prints
"ready" once every one has received the stream's first bytes, then records, for each job
message whose progress message is ``t=<unix time>``, how long after that time it arrived.
On SIGTERM it prints one JSON line: the latencies in ms and the number of streams that broke.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
import orjson  # noqa: E402

latencies: list[float] = []
#: Streams that received their first bytes, and streams refused or cut.
counts = {"connected": 0, "broken": 0}


def subscribe(url: str, token: str) -> None:
    parts = urlsplit(url)
    try:
        sock = socket.create_connection((parts.hostname, parts.port), timeout=120)
        request = (
            f"GET {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        sock.sendall(request.encode())
        buffer = b""
        first = True
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                counts["broken"] += 1
                return
            if first:
                first = False
                counts["connected"] += 1
            buffer += chunk
            *messages, buffer = buffer.split(b"\n\n")
            now = time.time()
            for message in messages:
                for line in message.split(b"\n"):
                    if line.startswith(b"data: "):
                        sent = orjson.loads(line[6:]).get("progress", {}).get("message", "")
                        if sent.startswith("t="):
                            latencies.append((now - float(sent[2:])) * 1000)
    except OSError:
        counts["broken"] += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: report())
    for _ in range(args.count):
        gevent.spawn(subscribe, args.url, args.token)
        gevent.sleep(0.002)  # connect at about 500/s, as clients reconnecting would
    while counts["connected"] + counts["broken"] < args.count:
        gevent.sleep(0.05)
    print("ready", counts["connected"], counts["broken"], flush=True)
    while True:
        gevent.sleep(1)


def report() -> None:
    print(json.dumps({"latencies_ms": latencies, "broken": counts["broken"]}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
