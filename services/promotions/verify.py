"""Verification after landing, when the stage asks for it: the first executions of each
activated workflow after the deploy (ingested from the target, as the execution ingestion
does) must succeed within the stage's window. A failed one fails the deployment (and so
rolls it back); a workflow that did not run within the window is a warning."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from models.db import db
from models.environments import Environment
from models.executions import Execution
from services import ingestion

#: Seconds between looks at the target's executions while the window is open.
POLL_S = 2.0
#: Statuses of an execution that has not finished yet.
UNFINISHED = ("running", "waiting")


class ExecutionsFailed(Exception):
    """A promoted workflow's first execution after the deploy failed."""


def first_executions(
    ctx,
    target: Environment,
    applied: list[dict[str, Any]],
    *,
    window_s: int,
    since: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Wait (at most ``window_s``) for the first finished execution of each activated
    workflow since ``since``; raise on a failed one; the warnings for those that never ran."""
    active = {r["n8n_id"]: r["name"] for r in applied if r["active"]}
    deadline = time.monotonic() + window_s
    first: dict[str, tuple[str, str | None]] = {}
    while active:
        ingestion.ingest(target.id)
        rows = db.execute(
            select(Execution.workflow_id, Execution.normalized_status, Execution.error_message)
            .where(
                Execution.environment_id == target.id,
                Execution.workflow_id.in_(list(active)),
                Execution.started_at >= since,
                Execution.normalized_status.not_in(UNFINISHED),
            )
            .order_by(Execution.started_at)
        ).all()
        db.commit()
        for workflow_id, status, error in rows:
            first.setdefault(workflow_id, (status, error))
        failed = [(active[w], e) for w, (s, e) in first.items() if s != "success"]
        if failed:
            raise ExecutionsFailed(
                "First executions after the deploy failed: "
                + "; ".join(f"{name}: {error or 'failed'}" for name, error in failed)
            )
        if set(first) >= set(active) or time.monotonic() >= deadline:
            break
        ctx.progress(message=f"waiting for first executions ({len(first)}/{len(active)})")
        sleep(POLL_S)
    return [
        f"{name} did not run within {window_s} s of the deploy."
        for w, name in active.items()
        if w not in first
    ]
