"""The heartbeat: probe each environment of a tenant (reads only) and record the outcome.

Recording is environments.record_check, shared with jobs' calls and connection tests: one
failure streak, flagged once it reaches environments.FAILURES_BEFORE_FLAGGED (audited once as
"environment.unhealthy") and recovered at the next success ("environment.recovered").
"""

from __future__ import annotations

import contextvars
import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from sqlalchemy import select

from models.db import db
from models.environments import Environment
from services import environments
from services.progress import Progress, no_progress

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
        # Each probe in the caller's context: the job's deadline bounds it (services/deadline).
        probes = {
            pool.submit(contextvars.copy_context().run, environments.check_connection, env): env
            for env in envs
        }
        for future in as_completed(probes):
            env, check = probes[future], future.result()
            transition = environments.record_check(env.id, check)
            summary["checked"] += 1
            summary["healthy" if check.ok else "failing"] += 1
            if transition:
                summary[transition].append(str(env.id))
            progress(current=summary["checked"], total=len(envs), message=f"checked {env.name}")
    return summary


def check(env_id: uuid.UUID) -> dict[str, Any]:
    """Probe one environment now and record the outcome (a connection_check job)."""
    return dataclasses.asdict(environments.test_connection(env_id))
