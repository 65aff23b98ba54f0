"""Drift (issue 11): incident timelines and attestations, check history details, policies'
check cadence and history retention, the resolution jobs' artifacts, snapshot immutability
enforced by the database, the clock's scans (checks due, TTLs due) and the keep_hotfix rule of
the environment action guard.

Revision ID: 0011b_drift
Revises: 0010c_canonical
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.helpers import (
    create_definer_function,
    drop_definer_function,
    grant_definer,
    protect_tenant_table,
    revoke_definer,
)

revision = "0011b_drift"
down_revision = "0010c_canonical"
branch_labels = None
depends_on = None

OLD_JOB_TYPES = (
    "sync",
    "promotion",
    "deployment",
    "onboarding",
    "execution_ingestion",
    "credential_sync",
    "credential_health",
    "environment_heartbeat",
    "drift_check",
    "retention_purge",
    "healthcheck",
    "git_attach",
    "canonical_onboarding",
    "repo_sync",
    "workflow_backup",
    "workflow_restore",
    "workflow_manage",
    "workflow_rehash",
    "noop",
)
NEW_JOB_TYPES = ("drift_revert", "drift_keep_hotfix", "drift_ttl", "drift_retention")
EVENT_TYPES = (
    "created",
    "accumulated",
    "acknowledged",
    "stabilized",
    "reconciled",
    "closed",
    "updated",
    "cleared",
    "ttl_warning",
    "ttl_expired",
    "ttl_extended",
    "override",
    "approval",
    "resolution",
    "deleted",
)
#: (environment class, policy, minimum role) of the keep_hotfix action (system.md §4.2, row 17).
KEEP_HOTFIX = (
    ("dev", "blocked", None),
    ("staging", "allowed", "admin"),
    ("production", "allowed", "admin"),
)
KEEP_HOTFIX_RULE = (
    "Keeping a hotfix makes the running version the approved one: an admin's decision in "
    "staging and production; DEV's runtime is its own source of truth."
)

DEFINER_FUNCTIONS = {
    # The clock's drift schedule: non-dev environments whose check for the current slot of
    # their own cadence (policy check_interval_minutes) has not been started yet.
    "drift_checks_due(timestamptz, integer)": """
        RETURNS TABLE (tenant_id uuid, environment_id uuid, slot timestamptz)
        LANGUAGE sql STABLE AS $$
            WITH cadence AS (
                SELECT e.tenant_id, e.id AS environment_id,
                       coalesce(pe.check_interval_minutes, pt.check_interval_minutes, $2)
                           AS every
                  FROM environments e
                  LEFT JOIN drift_policies pe
                    ON pe.tenant_id = e.tenant_id AND pe.environment_id = e.id
                  LEFT JOIN drift_policies pt
                    ON pt.tenant_id = e.tenant_id AND pt.environment_id IS NULL
                 WHERE e.environment_class <> 'dev'
            ), slotted AS (
                SELECT tenant_id, environment_id,
                       timestamptz '2020-01-01 00:00:00+00' + make_interval(mins => every
                           * floor(extract(epoch FROM $1 - timestamptz '2020-01-01 00:00:00+00')
                                   / 60 / every)::integer) AS slot
                  FROM cadence
            )
            SELECT s.tenant_id, s.environment_id, s.slot
              FROM slotted s
             WHERE NOT EXISTS (
                   SELECT 1 FROM background_jobs j
                    WHERE j.tenant_id = s.tenant_id
                      AND j.schedule_key = 'drift_check:' || s.environment_id
                      AND j.scheduled_slot = s.slot)
             ORDER BY s.tenant_id, s.environment_id
        $$""",
    # The TTL checker's scan: tenants with an open incident past its expiry, or inside its
    # warning window and not warned yet.
    "drift_ttl_due(integer)": """
        RETURNS SETOF uuid
        LANGUAGE sql STABLE AS $$
            SELECT DISTINCT i.tenant_id
              FROM drift_incidents i
              LEFT JOIN drift_policies pe
                ON pe.tenant_id = i.tenant_id AND pe.environment_id = i.environment_id
              LEFT JOIN drift_policies pt
                ON pt.tenant_id = i.tenant_id AND pt.environment_id IS NULL
             WHERE i.status <> 'closed' AND NOT i.is_deleted AND i.expired_at IS NULL
               AND i.expires_at IS NOT NULL
               AND (i.expires_at <= now()
                    OR (i.ttl_warning_sent_at IS NULL
                        AND i.expires_at <= now() + make_interval(hours =>
                            coalesce(pe.expiration_warning_hours,
                                     pt.expiration_warning_hours, $1))))
             ORDER BY 1
        $$""",
}

#: The drift snapshot is immutable once written: only retention may empty it (and says when).
SNAPSHOT_TRIGGER = """
CREATE FUNCTION drift_snapshot_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.drift_snapshot IS NOT NULL
       AND NEW.drift_snapshot IS DISTINCT FROM OLD.drift_snapshot
       AND NOT (NEW.drift_snapshot IS NULL AND NEW.payload_purged_at IS NOT NULL) THEN
        RAISE EXCEPTION 'drift_snapshot of incident % is immutable', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER drift_snapshot_immutable BEFORE UPDATE OF drift_snapshot ON drift_incidents
    FOR EACH ROW EXECUTE FUNCTION drift_snapshot_immutable();
"""
#: The timeline is append-only: retention may empty ``details``; a deleted user's id goes NULL.
TIMELINE_TRIGGER = """
CREATE FUNCTION drift_incident_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.incident_id, NEW.event_type, NEW.from_status, NEW.to_status, NEW.reason,
        NEW.ticket_ref, NEW.admin_override, NEW.created_at)
       IS DISTINCT FROM
       (OLD.incident_id, OLD.event_type, OLD.from_status, OLD.to_status, OLD.reason,
        OLD.ticket_ref, OLD.admin_override, OLD.created_at)
       OR (NEW.actor_id IS DISTINCT FROM OLD.actor_id AND NEW.actor_id IS NOT NULL)
       OR (NEW.owner_user_id IS DISTINCT FROM OLD.owner_user_id AND NEW.owner_user_id IS NOT NULL)
       OR (NEW.details IS DISTINCT FROM OLD.details
           AND NOT (NEW.details = '{}'::jsonb AND NEW.payload_purged_at IS NOT NULL)) THEN
        RAISE EXCEPTION 'drift_incident_events are append-only' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER drift_incident_events_append_only BEFORE UPDATE ON drift_incident_events
    FOR EACH ROW EXECUTE FUNCTION drift_incident_events_append_only();
"""


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _job_types(values: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_background_jobs_job_type_values"), "background_jobs", type_="check")
    op.create_check_constraint(
        op.f("ck_background_jobs_job_type_values"),
        "background_jobs",
        sa.text(f"job_type IN ({_quoted(values)})"),
    )


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    if ondelete == "SET NULL":
        ondelete = f"SET NULL ({column})"
    return sa.ForeignKeyConstraint(
        [column, "tenant_id"],
        [f"{target}.id", f"{target}.tenant_id"],
        name=op.f(f"fk_{table}_{column}"),
        ondelete=ondelete,
    )


def _tenant_columns(table: str, *, updated_at: bool) -> list:
    columns = [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
    ]
    if updated_at:
        columns.append(
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                server_default=sa.text("now()"),
                nullable=False,
            )
        )
    return [
        *columns,
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f(f"uq_{table}_id_tenant_id")),
    ]


def _jsonb(name: str) -> sa.Column:
    return sa.Column(
        name,
        postgresql.JSONB(astext_type=sa.Text()),
        server_default=sa.text("'{}'::jsonb"),
        nullable=False,
    )


def upgrade() -> None:
    _job_types((*OLD_JOB_TYPES, *NEW_JOB_TYPES))

    op.add_column("environments", sa.Column("drift_status_reason", sa.Text()))

    op.add_column(
        "drift_incidents",
        sa.Column("severity_source", sa.String(length=10), server_default="rules", nullable=False),
    )
    op.add_column(
        "drift_incidents",
        sa.Column("ttl_source", sa.String(length=10), server_default="rules", nullable=False),
    )
    for column in ("severity_source", "ttl_source"):
        op.create_check_constraint(
            op.f(f"ck_drift_incidents_{column}_values"),
            "drift_incidents",
            sa.text(f"{column} IN ('rules', 'person')"),
        )
    op.add_column("drift_incidents", sa.Column("drift_fingerprint", sa.String(length=64)))
    op.add_column("drift_incidents", sa.Column("last_detected_at", sa.DateTime(timezone=True)))
    op.add_column("drift_incidents", sa.Column("cleared_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_drift_incidents_tenant_id_detected_at",
        "drift_incidents",
        ["tenant_id", "detected_at", "id"],
    )
    op.execute(SNAPSHOT_TRIGGER)

    op.add_column(
        "drift_policies",
        sa.Column(
            "check_interval_minutes", sa.Integer(), server_default=sa.text("5"), nullable=False
        ),
    )
    op.add_column(
        "drift_policies",
        sa.Column(
            "check_history_retention_days",
            sa.Integer(),
            server_default=sa.text("90"),
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_drift_policies_check_interval_range"),
        "drift_policies",
        sa.text("check_interval_minutes BETWEEN 1 AND 1440"),
    )
    op.create_check_constraint(
        op.f("ck_drift_policies_hours_and_days_not_negative"),
        "drift_policies",
        sa.text(
            "expiration_warning_hours >= 0 AND approval_expiry_hours > 0"
            " AND closed_incident_retention_days >= 0"
            " AND reconciliation_artifact_retention_days >= 0"
            " AND approval_retention_days >= 0 AND check_history_retention_days >= 0"
        ),
    )

    op.add_column("drift_approvals", _jsonb("action_params"))
    op.create_index(
        "ix_drift_approvals_tenant_id_status_created_at",
        "drift_approvals",
        ["tenant_id", "status", "created_at"],
    )

    op.add_column("drift_check_history", _jsonb("summary"))
    op.add_column("drift_check_history", sa.Column("job_id", sa.Uuid()))
    op.create_foreign_key(
        op.f("fk_drift_check_history_job_id"),
        "drift_check_history",
        "background_jobs",
        ["job_id", "tenant_id"],
        ["id", "tenant_id"],
        ondelete="SET NULL (job_id)",
    )

    for column in (
        sa.Column("resolution", sa.String(length=20)),
        sa.Column("job_id", sa.Uuid()),
        sa.Column("created_by", sa.Uuid()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("error_message", sa.Text()),
        sa.Column("payload_purged_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("reconciliation_artifacts", column)
    op.create_check_constraint(
        op.f("ck_reconciliation_artifacts_resolution_values"),
        "reconciliation_artifacts",
        sa.text("resolution IN ('revert', 'keep_hotfix')"),
    )
    for column, target in (("job_id", "background_jobs"), ("created_by", "users")):
        op.create_foreign_key(
            op.f(f"fk_reconciliation_artifacts_{column}"),
            "reconciliation_artifacts",
            target,
            [column, "tenant_id"],
            ["id", "tenant_id"],
            ondelete=f"SET NULL ({column})",
        )

    op.create_table(
        "drift_incident_events",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20)),
        sa.Column("to_status", sa.String(length=20)),
        sa.Column("actor_id", sa.Uuid()),
        sa.Column("reason", sa.Text()),
        sa.Column("ticket_ref", sa.String(length=200)),
        sa.Column("owner_user_id", sa.Uuid()),
        sa.Column("admin_override", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        _jsonb("details"),
        sa.Column("payload_purged_at", sa.DateTime(timezone=True)),
        *_tenant_columns("drift_incident_events", updated_at=False),
        sa.CheckConstraint(
            f"event_type IN ({_quoted(EVENT_TYPES)})",
            name=op.f("ck_drift_incident_events_event_type_values"),
        ),
        _fk("drift_incident_events", "incident_id", "drift_incidents", "CASCADE"),
        _fk("drift_incident_events", "actor_id", "users", "SET NULL"),
        _fk("drift_incident_events", "owner_user_id", "users", "SET NULL"),
    )
    op.create_index(
        op.f("ix_drift_incident_events_tenant_id"), "drift_incident_events", ["tenant_id"]
    )
    op.create_index(
        "ix_drift_incident_events_tenant_id_incident_id_created_at",
        "drift_incident_events",
        ["tenant_id", "incident_id", "created_at"],
    )
    protect_tenant_table("drift_incident_events")
    op.execute(TIMELINE_TRIGGER)

    op.create_table(
        "drift_attestations",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("environment_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("attested_by", sa.Uuid()),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket_ref", sa.String(length=200)),
        sa.Column("covers_fingerprint", sa.String(length=64)),
        sa.Column("approval_id", sa.Uuid()),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.Uuid()),
        *_tenant_columns("drift_attestations", updated_at=True),
        sa.CheckConstraint(
            "kind IN ('override', 'attestation')", name=op.f("ck_drift_attestations_kind_values")
        ),
        sa.CheckConstraint(
            "kind <> 'attestation' OR ticket_ref IS NOT NULL",
            name=op.f("ck_drift_attestations_attestation_has_ticket"),
        ),
        _fk("drift_attestations", "incident_id", "drift_incidents", "CASCADE"),
        _fk("drift_attestations", "environment_id", "environments", "CASCADE"),
        _fk("drift_attestations", "attested_by", "users", "SET NULL"),
        _fk("drift_attestations", "revoked_by", "users", "SET NULL"),
        _fk("drift_attestations", "approval_id", "drift_approvals", "SET NULL"),
    )
    op.create_index(op.f("ix_drift_attestations_tenant_id"), "drift_attestations", ["tenant_id"])
    op.create_index(
        "ix_drift_attestations_tenant_id_incident_id",
        "drift_attestations",
        ["tenant_id", "incident_id"],
    )
    protect_tenant_table("drift_attestations")

    for table in ("drift_incidents", "drift_policies"):
        grant_definer(table)
    for signature, body in DEFINER_FUNCTIONS.items():
        create_definer_function(signature, body)

    matrix = sa.table(
        "workflow_policy_matrix",
        sa.column("environment_class", sa.String),
        sa.column("action_type", sa.String),
        sa.column("policy", sa.String),
        sa.column("minimum_role", sa.String),
        sa.column("rule", sa.Text),
    )
    op.bulk_insert(
        matrix,
        [
            {
                "environment_class": env_class,
                "action_type": "keep_hotfix",
                "policy": policy,
                "minimum_role": role,
                "rule": KEEP_HOTFIX_RULE,
            }
            for env_class, policy, role in KEEP_HOTFIX
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM workflow_policy_matrix WHERE action_type = 'keep_hotfix'")
    for signature in DEFINER_FUNCTIONS:
        drop_definer_function(signature)
    for table in ("drift_incidents", "drift_policies"):
        revoke_definer(table)
    op.drop_table("drift_attestations")
    op.drop_table("drift_incident_events")
    op.execute("DROP FUNCTION IF EXISTS drift_incident_events_append_only()")
    for column in ("job_id", "created_by"):
        op.drop_constraint(
            op.f(f"fk_reconciliation_artifacts_{column}"), "reconciliation_artifacts", "foreignkey"
        )
    op.drop_constraint(
        op.f("ck_reconciliation_artifacts_resolution_values"), "reconciliation_artifacts", "check"
    )
    for column in (
        "payload_purged_at", "error_message", "finished_at", "created_by", "job_id", "resolution",
    ):  # fmt: skip
        op.drop_column("reconciliation_artifacts", column)
    op.drop_constraint(op.f("fk_drift_check_history_job_id"), "drift_check_history", "foreignkey")
    op.drop_column("drift_check_history", "job_id")
    op.drop_column("drift_check_history", "summary")
    op.drop_index("ix_drift_approvals_tenant_id_status_created_at", table_name="drift_approvals")
    op.drop_column("drift_approvals", "action_params")
    for name in ("check_interval_range", "hours_and_days_not_negative"):
        op.drop_constraint(op.f(f"ck_drift_policies_{name}"), "drift_policies", "check")
    op.drop_column("drift_policies", "check_history_retention_days")
    op.drop_column("drift_policies", "check_interval_minutes")
    op.execute("DROP TRIGGER IF EXISTS drift_snapshot_immutable ON drift_incidents")
    op.execute("DROP FUNCTION IF EXISTS drift_snapshot_immutable()")
    op.drop_index("ix_drift_incidents_tenant_id_detected_at", table_name="drift_incidents")
    for column in ("severity_source", "ttl_source"):
        op.drop_constraint(op.f(f"ck_drift_incidents_{column}_values"), "drift_incidents", "check")
    for column in (
        "cleared_at", "last_detected_at", "drift_fingerprint", "ttl_source", "severity_source",
    ):  # fmt: skip
        op.drop_column("drift_incidents", column)
    op.drop_column("environments", "drift_status_reason")
    op.execute(f"DELETE FROM background_jobs WHERE job_type IN ({_quoted(NEW_JOB_TYPES)})")
    _job_types(OLD_JOB_TYPES)
