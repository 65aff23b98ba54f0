"""The target's copies read ahead: taken in the order the reads land, a copy not read ahead
read with the caller's client first, a failed read raised when taken."""

from __future__ import annotations

import threading

import pytest

from services.n8n import N8nNotFound
from services.promotions.reads import ReadAhead


class Client:
    """Answers a read once its workflow is released (``gates``), or fails it."""

    def __init__(self, gates: dict[str, threading.Event], failing: frozenset[str] = frozenset()):
        self.gates, self.failing, self.read = gates, failing, []

    def get_workflow(self, workflow_id: str) -> dict:
        self.gates[workflow_id].wait(5)
        self.read.append(workflow_id)
        if workflow_id in self.failing:
            raise N8nNotFound("gone", status=404, method="GET", path=f"/workflows/{workflow_id}")
        return {"id": workflow_id}


def test_reads_are_taken_in_the_order_they_land():
    gates = {i: threading.Event() for i in "ab"}
    ahead = ReadAhead([Client(gates), Client(gates)], ["a", "b"])
    try:
        landing = ahead.landing(["a", "b"], Client(gates))
        gates["b"].set()
        assert next(landing) == ("b", {"id": "b"})
        gates["a"].set()
        assert list(landing) == [("a", {"id": "a"})]
    finally:
        ahead.close()


def test_a_copy_not_read_ahead_is_read_with_the_callers_client_first():
    gates = {i: threading.Event() for i in "ab"}
    for gate in gates.values():
        gate.set()
    caller = Client(gates)
    ahead = ReadAhead([Client(gates)], ["a"])
    try:
        assert list(ahead.landing(["b", "a"], caller)) == [("b", {"id": "b"}), ("a", {"id": "a"})]
    finally:
        ahead.close()
    assert caller.read == ["b"]


def test_a_failed_read_raises_when_taken():
    gates = {"a": threading.Event()}
    gates["a"].set()
    ahead = ReadAhead([Client(gates, failing=frozenset("a"))], ["a"])
    try:
        with pytest.raises(N8nNotFound):
            list(ahead.landing(["a"], Client(gates)))
    finally:
        ahead.close()
