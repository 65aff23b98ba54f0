"""The definer role reads across tenants through policies of its own instead of BYPASSRLS, so
the platform installs where the installer cannot grant BYPASSRLS (managed PostgreSQL).

Each table one of the SECURITY DEFINER functions reads (or, for api_tokens' last use, updates)
gets a permissive policy for the definer role alone. Roles created before this keep whatever
attributes they have; new installs create the definer without BYPASSRLS.

Revision ID: 0014_operable
Revises: 0007_auth_sets_tenant
Create Date: 2026-12-01
"""

from migrations.helpers import grant_definer, revoke_definer

revision = "0014_operable"
down_revision = "0011_events"
branch_labels = None
depends_on = None

#: (table, command) for every row-level-secured table a definer function reads or writes:
#: auth_token_principal (api_tokens, users), auth_subject_principal (users),
#: tenant_id_for_slug and all_tenant_ids (tenants), jobs_unenqueued and jobs_stale
#: (background_jobs), scheduled_environments (environments).
DEFINER_ACCESS = (
    ("api_tokens", "select"),
    ("api_tokens", "update"),
    ("users", "select"),
    ("tenants", "select"),
    ("background_jobs", "select"),
    ("environments", "select"),
)


def upgrade() -> None:
    for table, command in DEFINER_ACCESS:
        grant_definer(table, command=command)


def downgrade() -> None:
    for table, command in DEFINER_ACCESS:
        revoke_definer(table, command=command)
