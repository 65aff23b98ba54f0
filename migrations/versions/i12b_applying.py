"""A deployment's workflow row may be ``applying``: marked before its write, so a worker lost
mid-deployment leaves the workflows that may have landed apart from those never attempted
(the outcomes are committed in batches, services/promotions/ledger.py).

Revision ID: i12b_applying
Revises: i13b_jobs
Create Date: 2026-12-02
"""

from alembic import op

revision = "i12b_applying"
down_revision = "i13b_jobs"
branch_labels = None
depends_on = None

OLD = ("pending", "success", "failed", "skipped", "unchanged")
NEW = ("pending", "applying", "success", "failed", "skipped", "unchanged")
NAME = "ck_deployment_workflows_status_values"


def _check(values: tuple[str, ...]) -> None:
    op.drop_constraint(op.f(NAME), "deployment_workflows", type_="check")
    quoted = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(op.f(NAME), "deployment_workflows", f"status IN ({quoted})")


def upgrade() -> None:
    _check(NEW)


def downgrade() -> None:
    # A row left applying by a lost worker may have landed: pending is the closest older word.
    op.execute("UPDATE deployment_workflows SET status = 'pending' WHERE status = 'applying'")
    _check(OLD)
