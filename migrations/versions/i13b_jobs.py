"""Jobs stay flat as they grow: list indexes that match each filter and the list's order
(newest first, id as the tie-break), so a filtered page reads its rows in index order instead of
sorting every match; and job_counts, a per-tenant count by status and kind kept by a trigger in
the transaction of every change, so /jobs/stats reads a few rows whatever the number of jobs.

Revision ID: i13b_jobs
Revises: i12a_advance
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from migrations.helpers import protect_tenant_table

revision = "i13b_jobs"
down_revision = "i12a_advance"
branch_labels = None
depends_on = None

#: Spreads one tenant's counters over slots chosen by the writing backend, so two
#: connections finishing jobs of the same kind seldom wait on one counter row (a row lock is
#: held until commit); /jobs/stats sums the slots.
SLOTS = 16

#: Counters are locked in (status, kind) order, so two transactions sharing a slot never hold
#: two of them crosswise.
#:
#: Jobs added or removed: one change per status and kind for the whole statement (a bulk
#: insert would otherwise update one counter row once per job in one transaction, each update
#: a new version the next one walks past).
ADDED_FUNCTION = f"""
CREATE FUNCTION job_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts AS c (tenant_id, status, job_type, slot, count)
    SELECT tenant_id, status, job_type, pg_backend_pid() % {SLOTS}, count(*)
      FROM added GROUP BY tenant_id, status, job_type ORDER BY status, job_type
        ON CONFLICT (tenant_id, status, job_type, slot)
        DO UPDATE SET count = c.count + excluded.count;
    RETURN NULL;
END $$
"""
#: Only an update: a cascade from the tenant may already have removed the counters.
REMOVED_FUNCTION = """
CREATE FUNCTION job_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE job_counts c SET count = c.count - r.n
      FROM (SELECT tenant_id, status, job_type, count(*) AS n
              FROM removed GROUP BY tenant_id, status, job_type) AS r
     WHERE c.id = (SELECT s.id FROM job_counts s
                    WHERE s.tenant_id = r.tenant_id AND s.status = r.status
                      AND s.job_type = r.job_type
                    ORDER BY s.slot LIMIT 1);
    RETURN NULL;
END $$
"""
#: A change of status (one job: every transition of the job core is a guarded update of one
#: row): one down, one up. A job's kind never changes.
MOVED_FUNCTION = f"""
CREATE FUNCTION job_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts AS c (tenant_id, status, job_type, slot, count)
    SELECT NEW.tenant_id, d.status, NEW.job_type, pg_backend_pid() % {SLOTS}, d.delta
      FROM (VALUES (OLD.status, -1), (NEW.status, 1)) AS d (status, delta)
     ORDER BY d.status
        ON CONFLICT (tenant_id, status, job_type, slot)
        DO UPDATE SET count = c.count + excluded.count;
    RETURN NULL;
END $$
"""
#: (trigger, function, its definition, when it fires).
TRIGGERS = (
    (
        "job_counts_added",
        ADDED_FUNCTION,
        "AFTER INSERT ON background_jobs REFERENCING NEW TABLE AS added FOR EACH STATEMENT",
    ),
    (
        "job_counts_removed",
        REMOVED_FUNCTION,
        "AFTER DELETE ON background_jobs REFERENCING OLD TABLE AS removed FOR EACH STATEMENT",
    ),
    (
        "job_counts_moved",
        MOVED_FUNCTION,
        # Heartbeats, progress and lease renewals change no status: the WHEN skips them in C.
        "AFTER UPDATE OF status ON background_jobs FOR EACH ROW"
        " WHEN (OLD.status IS DISTINCT FROM NEW.status)",
    ),
)

#: The list filters' indexes (their names kept from before): filter columns -> the list order.
LIST_INDEXES = {
    "ix_background_jobs_tenant_id_status_created_at": ["tenant_id", "status"],
    "ix_background_jobs_tenant_id_job_type_created_at": ["tenant_id", "job_type"],
    "ix_background_jobs_tenant_id_resource_type_resource_id": [
        "tenant_id",
        "resource_type",
        "resource_id",
    ],
}


def upgrade() -> None:
    op.create_table(
        "job_counts",
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("job_type", sa.String(30), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_job_counts_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_counts")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_job_counts_id_tenant_id")),
        sa.UniqueConstraint(
            "tenant_id",
            "status",
            "job_type",
            "slot",
            name=op.f("uq_job_counts_tenant_id_status_job_type_slot"),
        ),
    )
    op.create_index(op.f("ix_job_counts_tenant_id"), "job_counts", ["tenant_id"])
    protect_tenant_table("job_counts")
    for name, function, fires in TRIGGERS:
        op.execute(function)
        op.execute(f"CREATE TRIGGER {name} {fires} EXECUTE FUNCTION {name}()")
    # The jobs already there, counted under the same lock the triggers were created with
    # (no change can slip between the count and the first trigger); FORCE'd row-level
    # security applies to the owner too, so it is lifted for the count only.
    for table in ("background_jobs", "job_counts"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "INSERT INTO job_counts (tenant_id, status, job_type, slot, count)"
        " SELECT tenant_id, status, job_type, 0, count(*) FROM background_jobs"
        " GROUP BY tenant_id, status, job_type"
    )
    for table in ("background_jobs", "job_counts"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    _replace_list_indexes(newest_first=True)
    # Stats no longer count from an index: this one only cost every status change a write.
    op.drop_index("ix_background_jobs_tenant_id_status_job_type", "background_jobs")


def downgrade() -> None:
    op.create_index(
        "ix_background_jobs_tenant_id_status_job_type",
        "background_jobs",
        ["tenant_id", "status", "job_type"],
    )
    _replace_list_indexes(newest_first=False)
    for name, _function, _fires in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON background_jobs")
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("job_counts")


def _replace_list_indexes(*, newest_first: bool) -> None:
    """Each index again over its filter columns, then created_at (and id, newest first)."""
    order = [sa.text("created_at DESC"), sa.text("id DESC")] if newest_first else ["created_at"]
    for name, columns in LIST_INDEXES.items():
        op.drop_index(name, "background_jobs")
        op.create_index(name, "background_jobs", [*columns, *order])
