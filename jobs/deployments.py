"""Deployments and their rollbacks (job kinds deployment and promotion; one at a time per
target environment). Never retried automatically: a lost worker's deployment is failed by
the reaper with what it applied, and an operator decides (roll back, run again)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import Connection, text

from jobs import core
from jobs.actor import JobContext, job_actor
from jobs.schedule import Schedule
from services.promotions import deployments, execute, undo

#: The reaper's verdict on a deployment whose worker vanished, with the job's.
_FAIL_LOST = text("""
    WITH failed AS (
        UPDATE deployments SET status = 'failed', finished_at = now(), updated_at = now(),
               summary_json = summary_json || '{"worker_lost": true}'::jsonb
         WHERE job_id = :job_id AND status = 'running'
     RETURNING id, tenant_id, promotion_id
    ), promotion AS (
        UPDATE promotions p SET status = 'failed', updated_at = now(),
               execution_result = jsonb_build_object('error',
                   'The worker running the deployment was lost; see each workflow''s '
                   || 'outcome, then roll back or run it again.')
          FROM failed f WHERE p.id = f.promotion_id AND p.status = 'running'
    )
    INSERT INTO notification_events (tenant_id, event_type, resource_type, resource_id, payload)
    SELECT tenant_id, 'deployment.failed', 'deployment', id::text,
           jsonb_build_object('promotion_id', promotion_id, 'worker_lost', true)
      FROM failed
""")


def fail_lost(conn: Connection, job_id: uuid.UUID) -> None:
    """Fail the deployment of a job the reaper failed (never left running)."""
    conn.execute(_FAIL_LOST, {"job_id": job_id})


core.LOST_HANDLERS["deployment"] = fail_lost


@job_actor(
    "deployment",
    queue="deployments",
    time_limit=timedelta(hours=1),
    max_attempts=1,
    requeue_if_stale=False,
)
def run_deployment(ctx: JobContext) -> dict:
    """Carry out one deployment: gates, pre snapshot, writes, verification, rollback."""
    return execute.run(ctx)


@job_actor(
    "promotion",
    queue="deployments",
    time_limit=timedelta(hours=1),
    max_attempts=1,
    requeue_if_stale=False,
)
def roll_back_promotion(ctx: JobContext) -> dict:
    """Put a promotion's target back as its pre-promotion snapshot had it."""
    return undo.run(ctx)


#: Scheduled deployments whose time has come are started on this cadence (system.md §4.7).
SCHEDULE = Schedule(
    key="scheduled_deployments",
    every=timedelta(seconds=10),
    plan=lambda _slot: deployments.start_due(),
    misfire_grace=timedelta(seconds=10),
)
