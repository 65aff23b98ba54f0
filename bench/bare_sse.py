"""The baseline of bench/live_stream.py: the same fan-out with no platform around it.

A gevent WSGI server; one psycopg connection LISTENs on the channel the trigger notifies and
hands each payload, as it is, to every open stream (no authentication, no tenant, no replay,
no message formatting beyond the SSE frame).

    python bench/bare_sse.py --port N   (DATABASE_URL set)
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402

import gevent  # noqa: E402
import psycopg  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from gevent.queue import Queue  # noqa: E402

streams: set[Queue] = set()


def listen(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("LISTEN n8nops_live")
        for notice in conn.notifies():
            for inbox in list(streams):
                inbox.put(notice.payload)


def app(environ, start_response):
    inbox: Queue = Queue()
    streams.add(inbox)
    start_response("200 OK", [("Content-Type", "text/event-stream")])

    def body():
        try:
            yield b"retry: 2000\n\n"
            while True:
                yield b"data: " + inbox.get().encode() + b"\n\n"
        finally:
            streams.discard(inbox)

    return body()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    dsn = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    gevent.spawn(listen, dsn)
    WSGIServer(("127.0.0.1", args.port), app, log=None).serve_forever()


if __name__ == "__main__":
    main()
