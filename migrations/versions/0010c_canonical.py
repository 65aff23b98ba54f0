"""Canonical workflows: the tenant's ignore rules, the approved copy cached per environment
(blob id and file content), the environment action guard seeded from system.md §4.8 and §4.1
with the tenant's policy flags, and the job kinds of canonical work.

Revision ID: 0010c_canonical
Revises: 0010_git
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from migrations.helpers import roles

revision = "0010c_canonical"
down_revision = "0014_operable"
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
    "noop",
)
NEW_JOB_TYPES = (
    "canonical_onboarding",
    "repo_sync",
    "workflow_backup",
    "workflow_restore",
    "workflow_manage",
    "workflow_rehash",
)
CLASSES = ("dev", "staging", "production")
POLICIES = ("allowed", "warning", "blocked", "requires_approval")
ROLES = ("viewer", "developer", "admin")

_PROMOTED = "Staging and production get their workflows through promotions from Git"
#: (action, {class: (policy, minimum role, tenant configurable)}, rule): system.md §4.8 (the
#: environment action guard) and §4.1 (unmanaged workflow actions).
GUARD = (
    ("refresh", {c: ("allowed", None, False) for c in CLASSES}, "Refreshing only reads n8n."),
    ("diff", {c: ("allowed", None, False) for c in CLASSES}, "Comparing only reads."),
    (
        "backup",
        {"dev": ("allowed", None, False), "staging": ("blocked", None, False),
         "production": ("blocked", None, False)},
        "Backups capture DEV, whose runtime is its source of truth; staging and production "
        "are captured by promotion snapshots.",
    ),
    (
        "manual_snapshot",
        {"dev": ("allowed", None, False), "staging": ("blocked", None, True),
         "production": ("blocked", None, False)},
        "Manual snapshots are for DEV; staging only when the tenant turns this policy flag on; "
        "never production.",
    ),
    (
        "deploy_outbound",
        {"dev": ("allowed", None, False), "staging": ("allowed", None, False),
         "production": ("blocked", None, False)},
        "Nothing is promoted out of production.",
    ),
    (
        "deploy_inbound",
        {"dev": ("blocked", None, False), "staging": ("allowed", None, False),
         "production": ("allowed", "admin", False)},
        "DEV is never a deployment target (its runtime is the source of truth); deploying into "
        "production takes an admin.",
    ),
    (
        "restore",
        {"dev": ("blocked", None, True), "staging": ("allowed", None, False),
         "production": ("allowed", "admin", False)},
        "Restoring DEV is off unless the tenant turns this policy flag on; restoring "
        "production takes an admin.",
    ),
    (
        "edit_in_n8n",
        {"dev": ("allowed", None, False), "staging": ("blocked", None, False),
         "production": ("blocked", None, False)},
        f"{_PROMOTED}, not from edits or uploads.",
    ),
    (
        "link",
        {"dev": ("allowed", None, False), "staging": ("allowed", None, False),
         "production": ("warning", None, False)},
        "Linking in production is allowed, but promoting the workflow is the way its approved "
        "copy should arrive there.",
    ),
    (
        "create_canonical",
        {"dev": ("allowed", None, False), "staging": ("blocked", None, False),
         "production": ("blocked", None, False)},
        f"New canonical workflows start in DEV; {_PROMOTED}.",
    ),
    (
        "snapshot_only",
        {c: ("allowed", None, False) for c in CLASSES},
        "A snapshot-only workflow is backed up to Git and stays unmanaged (no drift).",
    ),
    ("ignore", {c: ("allowed", None, False) for c in CLASSES}, "Ignoring is always allowed."),
    ("unignore", {c: ("allowed", None, False) for c in CLASSES}, "Unignoring is always allowed."),
    (
        "unlink",
        {"dev": ("allowed", None, False), "staging": ("warning", None, False),
         "production": ("blocked", None, False)},
        "An unlinked workflow leaves drift detection and promotions: a warning in staging, "
        "refused in production.",
    ),
)  # fmt: skip


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _job_types(values: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_background_jobs_job_type_values"), "background_jobs", type_="check")
    op.create_check_constraint(
        op.f("ck_background_jobs_job_type_values"),
        "background_jobs",
        sa.text(f"job_type IN ({_quoted(values)})"),
    )


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def _tenant_table(name: str, *columns, constraints=()) -> None:
    op.create_table(
        name,
        *columns,
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{name}_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f(f"uq_{name}_id_tenant_id")),
        *constraints,
    )
    op.create_index(op.f(f"ix_{name}_tenant_id"), name, ["tenant_id"], unique=False)
    app, _ = roles()
    predicate = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    op.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {name} USING ({predicate}) WITH CHECK ({predicate})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {app}")


def upgrade() -> None:
    _job_types((*OLD_JOB_TYPES, *NEW_JOB_TYPES))

    op.add_column("workflow_git_state", sa.Column("blob_sha", sa.String(length=64)))
    op.add_column("workflow_git_state", sa.Column("file_content", sa.Text()))
    op.add_column("workflow_git_state", sa.Column("content_bytes", sa.Integer()))
    op.create_index(
        op.f("ix_workflow_git_state_tenant_id_environment_id"),
        "workflow_git_state",
        ["tenant_id", "environment_id"],
    )

    _tenant_table(
        "workflow_ignore_rules",
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("created_by", sa.Uuid()),
        constraints=(
            sa.ForeignKeyConstraint(
                ["created_by", "tenant_id"],
                ["users.id", "users.tenant_id"],
                name=op.f("fk_workflow_ignore_rules_created_by"),
                ondelete="SET NULL (created_by)",
            ),
            sa.UniqueConstraint("tenant_id", "rule", name=op.f("uq_workflow_ignore_rules_tenant_id_rule")),
        ),
    )  # fmt: skip
    _tenant_table(
        "workflow_policy_overrides",
        sa.Column("environment_class", sa.String(length=20), nullable=False),
        sa.Column("action_type", sa.String(length=50), nullable=False),
        sa.Column("policy", sa.String(length=20), nullable=False),
        constraints=(
            sa.UniqueConstraint(
                "tenant_id", "environment_class", "action_type",
                name=op.f("uq_workflow_policy_overrides_tenant_id_environment_class_action_type"),
            ),
            sa.CheckConstraint(
                f"environment_class IN ({_quoted(CLASSES)})",
                name=op.f("ck_workflow_policy_overrides_environment_class_values"),
            ),
            sa.CheckConstraint(
                f"policy IN ({_quoted(POLICIES)})",
                name=op.f("ck_workflow_policy_overrides_policy_values"),
            ),
        ),
    )  # fmt: skip

    op.add_column("workflow_policy_matrix", sa.Column("minimum_role", sa.String(length=20)))
    op.add_column(
        "workflow_policy_matrix",
        sa.Column(
            "tenant_configurable", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.add_column(
        "workflow_policy_matrix",
        sa.Column("rule", sa.Text(), server_default="", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_workflow_policy_matrix_minimum_role_values"),
        "workflow_policy_matrix",
        sa.text(f"minimum_role IN ({_quoted(ROLES)})"),
    )
    matrix = sa.table(
        "workflow_policy_matrix",
        sa.column("environment_class", sa.String),
        sa.column("action_type", sa.String),
        sa.column("policy", sa.String),
        sa.column("minimum_role", sa.String),
        sa.column("tenant_configurable", sa.Boolean),
        sa.column("rule", sa.Text),
    )
    op.bulk_insert(
        matrix,
        [
            {
                "environment_class": env_class,
                "action_type": action,
                "policy": policy,
                "minimum_role": role,
                "tenant_configurable": configurable,
                "rule": rule,
            }
            for action, per_class, rule in GUARD
            for env_class, (policy, role, configurable) in per_class.items()
        ],
    )


def downgrade() -> None:
    actions = _quoted(tuple(action for action, _, _ in GUARD))
    op.execute(f"DELETE FROM workflow_policy_matrix WHERE action_type IN ({actions})")
    op.drop_constraint(
        op.f("ck_workflow_policy_matrix_minimum_role_values"), "workflow_policy_matrix", "check"
    )
    for column in ("rule", "tenant_configurable", "minimum_role"):
        op.drop_column("workflow_policy_matrix", column)
    op.drop_table("workflow_policy_overrides")
    op.drop_table("workflow_ignore_rules")
    op.drop_index(
        op.f("ix_workflow_git_state_tenant_id_environment_id"), table_name="workflow_git_state"
    )
    for column in ("content_bytes", "file_content", "blob_sha"):
        op.drop_column("workflow_git_state", column)
    op.execute(f"DELETE FROM background_jobs WHERE job_type IN ({_quoted(NEW_JOB_TYPES)})")
    _job_types(OLD_JOB_TYPES)
