"""Onboarding a new environment: connection, version, first sync, executions, credentials."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from services import credentials, environments, ingestion, sync
from services.environments import ConnectionFailed

STEPS = (
    "testing the connection",
    "syncing workflows",
    "ingesting executions",
    "taking the credential inventory",
)


def onboard(env_id: uuid.UUID, *, progress: Callable[..., None]) -> dict[str, Any]:
    """Run each step in turn, each a progress step; a refused connection stops here."""
    total = len(STEPS)
    env = environments.get(env_id)
    progress(current=0, total=total, message=STEPS[0], force=True)
    check = environments.check_connection(env)
    environments.record_check(env.id, check)
    if not check.ok:
        raise ConnectionFailed(check)
    summary: dict[str, Any] = {"version_family": check.version_family}
    for step, (name, run) in enumerate(
        (
            ("workflows", sync.sync_workflows),
            ("executions", ingestion.ingest),
            ("credentials", credentials.sync_inventory),
        ),
        start=1,
    ):
        progress(current=step, total=total, message=STEPS[step], force=True)
        summary[name] = run(env_id, progress=_within(progress, step, total, STEPS[step]))
    progress(current=total, total=total, message="onboarded", force=True)
    return summary


def _within(progress: Callable[..., None], step: int, total: int, label: str):
    """A step's own progress, reported as a message under the onboarding's step count."""

    def report(**update: Any) -> None:
        detail = update.get("message")
        progress(current=step, total=total, message=f"{label}: {detail}" if detail else label)

    return report
