"""A deployment's per-workflow rows while it writes (deployment_workflows), in few
transactions instead of one per workflow:

- before a workflow is written its row is ``applying``: the rows of the next
  ``INTENT_WINDOW`` workflows are marked in one statement (the first window in the
  transaction that records the pre-promotion snapshot), an update in place with its action
  (``updated``, the target's n8n id is known), so a manual rollback puts back what may have
  landed from the pre-promotion snapshot (restoring one that had not is a no-op);
- each outcome (``success``, its n8n id, action, landing time) is committed with the next
  mark, at least every ``FLUSH_INTERVAL_S``, and at once after a creation (only its outcome
  names the new workflow).

A worker lost mid-way thus leaves ``success`` for what surely landed, ``applying`` for at
most one window that may have, ``pending`` for the rest. Every commit is fenced by the job's
lease (``ctx.fenced_transaction``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    DateTime,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    column,
    func,
    literal,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from models.db import db
from models.promotions import DeploymentWorkflow
from services.bulk import json_page
from services.promotions import plan

#: Workflows marked applying ahead of their writes, in one statement: at most this many are
#: "maybe applied" after a lost worker.
INTENT_WINDOW = 25
#: Seconds at most between commits of landed outcomes (what the operator sees as it goes;
#: the job's progress is written as often).
FLUSH_INTERVAL_S = 1.0

_ROWS = DeploymentWorkflow.__table__
_OF_DEPLOYMENT = _ROWS.c.deployment_id == bindparam("deployment")
_OF_WORKFLOW = and_(_OF_DEPLOYMENT, _ROWS.c.canonical_id == bindparam("canonical"))
#: Marks one window; a row the target has is updated in place.
_MARK = (
    update(_ROWS)
    .where(
        _OF_DEPLOYMENT,
        _ROWS.c.canonical_id == any_(bindparam("canonicals", type_=ARRAY(Uuid))),
        _ROWS.c.status == "pending",
    )
    .values(
        status="applying",
        action=case((_ROWS.c.target_n8n_id.is_not(None), literal("updated"))),
        updated_at=func.now(),
    )
)
_OUTCOMES = json_page(
    column("canonical_id", Uuid),
    column("n8n_id", Text),
    column("action", Text),
    column("landed_at", DateTime(timezone=True)),
    column("placeholders", JSONB),
)
#: Landed outcomes, one statement for the batch.
_LANDED = (
    update(_ROWS)
    .where(_OF_DEPLOYMENT, _ROWS.c.canonical_id == _OUTCOMES.c.canonical_id)
    .values(
        status="success",
        target_n8n_id=_OUTCOMES.c.n8n_id,
        action=_OUTCOMES.c.action,
        promoted_at=_OUTCOMES.c.landed_at,
        placeholder_credentials=_OUTCOMES.c.placeholders,
        updated_at=func.now(),
    )
)
#: The workflow the deployment stopped at; its action stays only when its write landed.
_FAILED = (
    update(_ROWS)
    .where(_OF_WORKFLOW)
    .values(
        status="failed",
        action=case((_ROWS.c.status == "success", _ROWS.c.action)),
        error_message=bindparam("error"),
        updated_at=func.now(),
    )
)
#: Marked but never attempted (the deployment stopped first): back to pending.
_UNMARK = (
    update(_ROWS)
    .where(_OF_DEPLOYMENT, _ROWS.c.status == "applying")
    .values(status="pending", action=None, updated_at=func.now())
)
_ROLLED_BACK = (
    update(_ROWS)
    .where(_OF_WORKFLOW)
    .values(rollback_status=bindparam("rollback"), updated_at=func.now())
)


class Ledger:
    """The rows of one deployment's writes, in the order of ``items``."""

    def __init__(self, ctx, deployment_id: uuid.UUID, items: list[plan.Item]) -> None:
        self._ctx = ctx
        self._deployment_id = deployment_id
        self._items = items
        self._marked = 0  # items[:_marked] are marked applying (or done)
        self._landed: list[dict[str, Any]] = []
        self._flushed_at = time.monotonic()

    def mark_first(self) -> None:
        """The first window applying, in the caller's transaction (the one that inserts the
        rows, after the snapshot): the first write needs no commit of its own."""
        self._mark(0)

    def before_write(self, index: int) -> None:
        """Before ``items[index]`` is written: its row (and the window after it) applying."""
        if index < self._marked:
            return
        with self._ctx.fenced_transaction():
            self._write_landed()
            self._mark(index)
        self._flushed_at = time.monotonic()

    def landed(
        self, item: plan.Item, n8n_id: str, action: str, *, placeholders: list[dict[str, Any]]
    ) -> None:
        """``item`` was written (with ``placeholders`` for the credentials it could not
        resolve); committed with the next mark, or now when due."""
        self._landed.append(
            {
                "canonical_id": str(item.canonical_id),
                "n8n_id": n8n_id,
                "action": action,
                "landed_at": datetime.now(UTC).isoformat(),
                "placeholders": placeholders,
            }
        )
        due = time.monotonic() - self._flushed_at >= FLUSH_INTERVAL_S
        if action == "created" or due:
            self._commit()

    def flush(self, then: Callable[[], None] | None = None) -> None:
        """Commit the outcomes landed since the last commit, with ``then``'s writes (the
        batch's other records) in the same transaction."""
        if self._landed or then is not None:
            self._commit(then)

    def failed(self, canonical_id: uuid.UUID | None, error: str) -> None:
        """The deployment stopped: landed outcomes, the workflow that failed, and the marked
        rows never attempted back to pending, in one transaction."""
        with self._ctx.fenced_transaction():
            self._write_landed()
            if canonical_id is not None:
                db.execute(_FAILED, self._key(canonical_id) | {"error": error[:2000]})
            db.execute(_UNMARK, {"deployment": self._deployment_id})

    def rolled_back(self, results: list[dict[str, Any]]) -> None:
        """What the rollback did to each workflow it restored or deleted."""
        if results:
            with self._ctx.fenced_transaction():
                record_rollback(self._deployment_id, results)

    def _commit(self, then: Callable[[], None] | None = None) -> None:
        with self._ctx.fenced_transaction():
            self._write_landed()
            if then is not None:
                then()
        self._flushed_at = time.monotonic()

    def _mark(self, index: int) -> None:
        window = self._items[index : index + INTENT_WINDOW]
        self._marked = index + len(window)
        marks = [item.canonical_id for item in window]
        db.execute(_MARK, {"deployment": self._deployment_id, "canonicals": marks})

    def _write_landed(self) -> None:
        if self._landed:
            db.execute(_LANDED, {"deployment": self._deployment_id, "rows": self._landed})
            self._landed = []

    def _key(self, canonical_id: uuid.UUID) -> dict[str, Any]:
        return {"deployment": self._deployment_id, "canonical": canonical_id}


def record_rollback(deployment_id: uuid.UUID, results: list[dict[str, Any]]) -> None:
    """Each rolled-back workflow's result on its row (in the caller's transaction)."""
    if results:
        db.execute(
            _ROLLED_BACK,
            [
                {
                    "deployment": deployment_id,
                    "canonical": uuid.UUID(r["canonical_id"]),
                    "rollback": r["rollback"],
                }
                for r in results
            ],
        )
