"""Overlap fetching with processing: pages are read one step ahead in a helper thread.

While this thread digests and stores page N, the n8n instance is already producing page
N+1. Errors arrive in order, where the failed page would have been, so a listing that fails
half-way still looks exactly like one to the caller.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: Pages read ahead of the consumer; one keeps the instance busy without hoarding memory.
DEPTH = 1
#: Seconds between checks, while waiting, that the other side is still there.
_POLL_S = 0.2
_END = object()


def prefetched(pages: Iterable[T], *, depth: int = DEPTH) -> Iterator[T]:
    """Iterate ``pages`` with the next item fetched in the background."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                if not _put(buffer, (page, None), stop):
                    return
        except Exception as error:  # noqa: BLE001 - handed to the consumer, in order
            _put(buffer, (None, error), stop)
            return
        _put(buffer, (_END, None), stop)

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            page, error = buffer.get()
            if error is not None:
                raise error
            if page is _END:
                return
            yield page
    finally:
        stop.set()
        worker.join()


def _put(buffer: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            buffer.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False
