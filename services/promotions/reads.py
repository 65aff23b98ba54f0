"""The target's copies a deployment is about to change, read ahead: started before the gates
are checked and taken as they land after, ``READERS`` at a time. Reads change nothing (no
lease is needed, a blocked promotion still writes nothing); a read that failed raises when
taken, inside the caller's n8n session, so the environment's health records it.

    with reads.ahead(promotion) as ahead:
        ...                                                  # gates, plan
        for n8n_id, workflow in ahead.landing(n8n_ids, client):
            ...                                              # each as its read lands
"""

from __future__ import annotations

import contextvars
import queue
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from models.db import db
from models.promotions import Promotion
from models.workflows import WorkflowEnvMap
from services import environments
from services.n8n import N8nClient
from services.promotions import lifecycle

#: Reads at once (each a connection to the target's n8n).
READERS = 4


class ReadAhead:
    """Reads of ``n8n_ids`` under way; each thread takes one of ``clients``."""

    def __init__(self, clients: list[N8nClient], n8n_ids: list[str]) -> None:
        self._clients: queue.SimpleQueue[N8nClient] = queue.SimpleQueue()
        for client in clients:
            self._clients.put(client)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(clients)))
        # Each read in the caller's context: the job's deadline bounds it.
        self._reads: dict[str, Future] = {
            i: self._pool.submit(contextvars.copy_context().run, self._read, i)
            for i in dict.fromkeys(n8n_ids)
        }

    def _read(self, n8n_id: str) -> dict[str, Any]:
        client = self._clients.get()
        try:
            return client.get_workflow(n8n_id)
        finally:
            self._clients.put(client)

    def landing(
        self, n8n_ids: list[str], client: N8nClient
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(n8n id, workflow) of each, in the order the reads land (one not read ahead is
        read now with ``client``, first)."""
        wanted = {}
        for i in dict.fromkeys(n8n_ids):
            if i in self._reads:
                wanted[self._reads[i]] = i
            else:
                yield i, client.get_workflow(i)
        for read in as_completed(wanted):
            yield wanted[read], read.result()

    def close(self) -> None:
        for read in self._reads.values():
            read.cancel()
        self._pool.shutdown(wait=True)


@contextmanager
def ahead(promotion: Promotion) -> Iterator[ReadAhead]:
    """Start reading the target's linked copies of the promotion's workflows."""
    target = environments.get(promotion.target_environment_id)
    n8n_ids = list(
        db.scalars(
            select(WorkflowEnvMap.n8n_workflow_id)
            .where(
                WorkflowEnvMap.environment_id == target.id,
                WorkflowEnvMap.canonical_id.in_(lifecycle.selected(promotion)),
            )
            .order_by(WorkflowEnvMap.workflow_name)
        )
    )
    # Made here: the threads never touch the database session or the environment row.
    clients = [environments.client_for(target) for _ in range(min(READERS, len(n8n_ids)))]
    reads = ReadAhead(clients, n8n_ids)
    try:
        yield reads
    finally:
        reads.close()
        for client in clients:
            client.close()
