"""Live updates: every visible change of a job and every notification event gets a number
from one sequence (live_seq) and is announced on the channel ``n8nops_live`` by a trigger, in
the transaction of the change. Streams deliver the announcements; a reconnecting client's
Last-Event-ID is a live_seq, so what it missed is read back from the tables themselves.

Revision ID: i15_live
Revises: i11_drift
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from migrations.helpers import roles

revision = "i15_live"
down_revision = "i11_drift"
branch_labels = None
depends_on = None

#: What a job's announcement carries: enough to draw its row and progress bar.
JOB_FUNCTION = """
CREATE FUNCTION live_job_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.live_seq := nextval('live_event_seq');
    PERFORM pg_notify('n8nops_live', json_build_object(
        'seq', NEW.live_seq, 'tenant_id', NEW.tenant_id, 'kind', 'job', 'id', NEW.id,
        'job_type', NEW.job_type, 'status', NEW.status, 'attempt', NEW.attempt,
        'resource_type', NEW.resource_type, 'resource_id', NEW.resource_id,
        'cancel_requested', NEW.cancel_requested_at IS NOT NULL,
        -- A notification holds at most 8000 bytes; a progress past that is announced empty.
        'progress', CASE WHEN octet_length(NEW.progress::text) < 4000 THEN NEW.progress
                         ELSE '{}'::jsonb END
    )::text);
    RETURN NEW;
END $$
"""

EVENT_FUNCTION = """
CREATE FUNCTION live_event_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.live_seq := nextval('live_event_seq');
    PERFORM pg_notify('n8nops_live', json_build_object(
        'seq', NEW.live_seq, 'tenant_id', NEW.tenant_id, 'kind', 'event', 'id', NEW.id,
        'event_type', NEW.event_type, 'resource_type', NEW.resource_type,
        'resource_id', NEW.resource_id
    )::text);
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    app, _ = roles()
    op.execute("CREATE SEQUENCE live_event_seq")
    op.execute(f"GRANT USAGE ON SEQUENCE live_event_seq TO {app}")
    for table in ("background_jobs", "notification_events"):
        op.add_column(table, sa.Column("live_seq", sa.BigInteger(), nullable=True))
        # A stream's replay after a reconnect: the tenant's rows past a number.
        op.create_index(f"ix_{table}_tenant_id_live_seq", table, ["tenant_id", "live_seq"])
    op.execute(JOB_FUNCTION)
    op.execute(EVENT_FUNCTION)
    # Heartbeats and lease renewals change none of these columns: they announce nothing.
    op.execute(
        "CREATE TRIGGER live_job_change BEFORE INSERT OR UPDATE OF status, progress, attempt,"
        " cancel_requested_at ON background_jobs FOR EACH ROW EXECUTE FUNCTION live_job_change()"
    )
    op.execute(
        "CREATE TRIGGER live_event_added BEFORE INSERT ON notification_events"
        " FOR EACH ROW EXECUTE FUNCTION live_event_added()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER live_event_added ON notification_events")
    op.execute("DROP TRIGGER live_job_change ON background_jobs")
    op.execute("DROP FUNCTION live_event_added()")
    op.execute("DROP FUNCTION live_job_change()")
    for table in ("background_jobs", "notification_events"):
        op.drop_index(f"ix_{table}_tenant_id_live_seq", table_name=table)
        op.drop_column(table, "live_seq")
    op.execute("DROP SEQUENCE live_event_seq")
