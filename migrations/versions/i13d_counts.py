"""job_counts keeps finished jobs only: a job's move into (or out of) completed, failed or
cancelled changes one counter; its start, claim and retries change none. Jobs still pending or
running are few at any time (they are work in flight) and are counted from background_jobs
itself when asked. Keeping them too cost every job two counter upserts per transition on the
worker's hot path, about a third of the tracked throughput (bench/job_throughput.py).

Revision ID: i13d_counts
Revises: i12b_applying
Create Date: 2026-12-02
"""

from alembic import op

from migrations.helpers import across_tenants
from migrations.versions.i13b_jobs import (
    ADDED_FUNCTION,
    MOVED_FUNCTION,
    REMOVED_FUNCTION,
    SLOTS,
)

revision = "i13d_counts"
down_revision = "i12b_applying"
branch_labels = None
depends_on = None

FINISHED = "('completed', 'failed', 'cancelled')"
#: The tables a count reads and writes.
COUNTED = ("background_jobs", "job_counts")

#: Only finished jobs added (an insert is almost always a pending job: nothing to count).
ADDED = f"""
CREATE OR REPLACE FUNCTION job_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts AS c (tenant_id, status, job_type, slot, count)
    SELECT tenant_id, status, job_type, pg_backend_pid() % {SLOTS}, count(*)
      FROM added WHERE status IN {FINISHED}
     GROUP BY tenant_id, status, job_type ORDER BY status, job_type
        ON CONFLICT (tenant_id, status, job_type, slot)
        DO UPDATE SET count = c.count + excluded.count;
    RETURN NULL;
END $$
"""
REMOVED = f"""
CREATE OR REPLACE FUNCTION job_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE job_counts c SET count = c.count - r.n
      FROM (SELECT tenant_id, status, job_type, count(*) AS n
              FROM removed WHERE status IN {FINISHED}
             GROUP BY tenant_id, status, job_type) AS r
     WHERE c.id = (SELECT s.id FROM job_counts s
                    WHERE s.tenant_id = r.tenant_id AND s.status = r.status
                      AND s.job_type = r.job_type
                    ORDER BY s.slot LIMIT 1);
    RETURN NULL;
END $$
"""
#: The trigger's WHEN lets only a move into or out of a finished status reach this, so at
#: least one side counts; the other is dropped when it is an active status.
MOVED = f"""
CREATE OR REPLACE FUNCTION job_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts AS c (tenant_id, status, job_type, slot, count)
    SELECT NEW.tenant_id, d.status, NEW.job_type, pg_backend_pid() % {SLOTS}, d.delta
      FROM (VALUES (OLD.status, -1), (NEW.status, 1)) AS d (status, delta)
     WHERE d.status IN {FINISHED}
     ORDER BY d.status
        ON CONFLICT (tenant_id, status, job_type, slot)
        DO UPDATE SET count = c.count + excluded.count;
    RETURN NULL;
END $$
"""
#: The WHEN is evaluated in C: a claim (pending -> running) or a retry (running -> pending)
#: never enters the function.
MOVED_WHEN = (
    "(OLD.status IS DISTINCT FROM NEW.status"
    f" AND (OLD.status IN {FINISHED} OR NEW.status IN {FINISHED}))"
)
ALL_MOVES = "(OLD.status IS DISTINCT FROM NEW.status)"


def upgrade() -> None:
    _replace(ADDED, REMOVED, MOVED, MOVED_WHEN)
    # The active counters are read from background_jobs from now on.
    across_tenants("DELETE FROM job_counts WHERE status NOT IN " + FINISHED, *COUNTED)


def downgrade() -> None:
    _replace(ADDED_FUNCTION, REMOVED_FUNCTION, MOVED_FUNCTION, ALL_MOVES)
    across_tenants(
        "INSERT INTO job_counts (tenant_id, status, job_type, slot, count)"
        " SELECT tenant_id, status, job_type, 0, count(*) FROM background_jobs"
        f" WHERE status NOT IN {FINISHED} GROUP BY tenant_id, status, job_type",
        *COUNTED,
    )


def _replace(added: str, removed: str, moved: str, moved_when: str) -> None:
    for function in (added, removed, moved):
        op.execute(function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute("DROP TRIGGER job_counts_moved ON background_jobs")
    op.execute(
        "CREATE TRIGGER job_counts_moved AFTER UPDATE OF status ON background_jobs"
        f" FOR EACH ROW WHEN {moved_when} EXECUTE FUNCTION job_counts_moved()"
    )
