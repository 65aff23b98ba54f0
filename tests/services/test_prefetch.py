"""Read-ahead keeps order, delivers a failure where it happened, and stops when abandoned."""

from __future__ import annotations

import threading

import pytest

from services.prefetch import prefetched


def test_pages_arrive_in_order():
    assert list(prefetched(iter(range(10)))) == list(range(10))


def test_a_failure_arrives_after_the_pages_before_it():
    def pages():
        yield 1
        yield 2
        raise RuntimeError("page 3 failed")

    seen = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        for page in prefetched(pages()):
            seen.append(page)
    assert seen == [1, 2]


def test_an_abandoned_iteration_stops_the_reader():
    produced = []
    done = threading.Event()

    def pages():
        try:
            for n in range(1000):
                produced.append(n)
                yield n
        finally:
            done.set()

    for page in prefetched(pages()):
        if page == 2:
            break
    assert done.wait(timeout=5)
    assert len(produced) <= 5
