"""The heartbeat: probe each environment of a tenant (reads only), record the outcome, and flag
environments that stop answering.

An environment is flagged once FAILURES_BEFORE_FLAGGED checks in a row have failed
(``consecutive_failures``); the audit trail gets one entry when it becomes flagged
("environment.unhealthy") and one when a check succeeds again ("environment.recovered").
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from sqlalchemy import select

from models.db import db
from models.environments import Environment
from services import audit, environments
from services.environments import ConnectionCheck
from services.progress import Progress, no_progress

#: Failed checks in a row before an environment is flagged: with a beat every 5 minutes,
#: about 15 minutes of silence, not one dropped connection or a restart.
FAILURES_BEFORE_FLAGGED = 3
#: Environments probed at once; each probe is bounded by environments.TEST_TIMEOUT_S.
MAX_PARALLEL_PROBES = 8


def beat(*, progress: Progress = no_progress) -> dict[str, Any]:
    """Probe every environment of the current tenant once; returns what was seen."""
    envs = list(db.scalars(select(Environment).order_by(Environment.name)))
    # End the read: no transaction stays open while the instances answer.
    db.commit()
    summary: dict[str, Any] = {
        "checked": 0,
        "healthy": 0,
        "failing": 0,
        "flagged": [],
        "recovered": [],
    }
    if not envs:
        return summary
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_PROBES, len(envs))) as pool:
        probes = {pool.submit(environments.check_connection, env): env for env in envs}
        for future in as_completed(probes):
            env, check = probes[future], future.result()
            transition = _record(env.id, check)
            summary["checked"] += 1
            summary["healthy" if check.ok else "failing"] += 1
            if transition:
                summary[transition].append(str(env.id))
            progress(current=summary["checked"], total=len(envs), message=f"checked {env.name}")
    return summary


def _record(env_id: uuid.UUID, check: ConnectionCheck) -> str | None:
    """Store one check, with an audit entry if it flags or unflags the environment, in one
    transaction; returns "flagged", "recovered" or None."""
    before = db.execute(
        select(Environment.consecutive_failures, Environment.connection_status)
        .where(Environment.id == env_id)
        # Held until record_check commits, so an API connection test cannot slip in between
        # and make us miss or repeat a transition.
        .with_for_update()
    ).one_or_none()
    if before is None:
        db.rollback()  # deleted while it was being probed
        return None
    transition = _transition(before.consecutive_failures, check.ok)
    if transition:
        audit.record(
            "environment.unhealthy" if transition == "flagged" else "environment.recovered",
            resource_type="environment",
            resource_id=env_id,
            old={
                "connection_status": before.connection_status,
                "consecutive_failures": before.consecutive_failures,
            },
            new={
                "connection_status": check.status,
                "consecutive_failures": 0 if check.ok else before.consecutive_failures + 1,
                "message": check.message,
            },
        )
    environments.record_check(env_id, check)
    return transition


def _transition(failures_before: int, ok: bool) -> str | None:
    if not ok and failures_before + 1 == FAILURES_BEFORE_FLAGGED:
        return "flagged"
    if ok and failures_before >= FAILURES_BEFORE_FLAGGED:
        return "recovered"
    return None
