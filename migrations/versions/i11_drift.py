"""Drift (issue 11): the clock's drift scans can read what they scan. drift_checks_due and
drift_ttl_due (0011b) run as the definer role, which had row policies on drift_policies and
drift_incidents but no SELECT on them, so every scan failed with "permission denied".

Revision ID: i11_drift
Revises: i12_promotions
Create Date: 2026-12-01
"""

from alembic import op

from migrations.helpers import roles

revision = "i11_drift"
down_revision = "i12_promotions"
branch_labels = None
depends_on = None

TABLES = "drift_policies, drift_incidents"


def upgrade() -> None:
    _, definer = roles()
    op.execute(f"GRANT SELECT ON {TABLES} TO {definer}")


def downgrade() -> None:
    _, definer = roles()
    op.execute(f"REVOKE SELECT ON {TABLES} FROM {definer}")
