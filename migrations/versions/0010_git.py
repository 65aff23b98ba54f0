"""Git per environment: provider and token username, an SSH deploy key (encrypted) and its
trusted host keys, the attach job that moves the embedded repository's history to a remote;
and the git_attach job kind.

Revision ID: 0010_git
Revises: 0007_auth_sets_tenant
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_git"
down_revision = "0007_auth_sets_tenant"
branch_labels = None
depends_on = None

GIT_PROVIDERS = ("github", "gitlab", "gitea", "bitbucket", "generic")
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
    "noop",
)
JOB_TYPES = (*OLD_JOB_TYPES, "git_attach")


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _job_types(values: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_background_jobs_job_type_values"), "background_jobs", type_="check")
    op.create_check_constraint(
        op.f("ck_background_jobs_job_type_values"),
        "background_jobs",
        sa.text(f"job_type IN ({_quoted(values)})"),
    )


def upgrade() -> None:
    op.add_column("environments", sa.Column("git_provider", sa.String(length=20), nullable=True))
    op.add_column("environments", sa.Column("git_username", sa.String(length=255), nullable=True))
    op.add_column("environments", sa.Column("git_ssh_key_encrypted", sa.Text(), nullable=True))
    op.add_column("environments", sa.Column("git_known_hosts", sa.Text(), nullable=True))
    op.add_column("environments", sa.Column("git_attach_job_id", sa.Uuid(), nullable=True))
    op.create_check_constraint(
        op.f("ck_environments_git_provider_values"),
        "environments",
        sa.text(f"git_provider IN ({_quoted(GIT_PROVIDERS)})"),
    )
    op.create_foreign_key(
        op.f("fk_environments_git_attach_job_id"),
        "environments",
        "background_jobs",
        ["git_attach_job_id", "tenant_id"],
        ["id", "tenant_id"],
        ondelete="SET NULL (git_attach_job_id)",
    )
    _job_types(JOB_TYPES)


def downgrade() -> None:
    op.execute("DELETE FROM background_jobs WHERE job_type = 'git_attach'")
    _job_types(OLD_JOB_TYPES)
    op.drop_constraint(
        op.f("fk_environments_git_attach_job_id"), "environments", type_="foreignkey"
    )
    op.drop_constraint(op.f("ck_environments_git_provider_values"), "environments", type_="check")
    for column in (
        "git_attach_job_id",
        "git_known_hosts",
        "git_ssh_key_encrypted",
        "git_username",
        "git_provider",
    ):
        op.drop_column("environments", column)
