"""auth_subject_memberships also returns each membership's tenant name, so the dashboard's
tenant picker names the tenants a person belongs to without reading across tenants itself.

Revision ID: i15c_memberships
Revises: i15_live
Create Date: 2026-12-02
"""

import importlib

from migrations.helpers import create_definer_function, drop_definer_function

revision = "i15c_memberships"
down_revision = "i15_live"
branch_labels = None
depends_on = None

_identity = importlib.import_module("migrations.versions.i8b_identity")
_MEMBERSHIPS = _identity._MEMBERSHIPS

MEMBERSHIPS_BODY = """
    RETURNS TABLE (user_id uuid, tenant_id uuid, role text, is_active boolean,
                   is_platform_admin boolean, tenant_name text)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        matches integer;
        chosen uuid;
    BEGIN
        SELECT count(*), min(x.tenant_id::text)::uuid INTO matches, chosen
          FROM users x
         WHERE x.supabase_auth_id = p_subject AND x.is_active
           AND (p_tenant IS NULL OR x.tenant_id = p_tenant);
        IF matches = 1 THEN
            PERFORM set_config('app.tenant_id', chosen::text, true);
        END IF;
        RETURN QUERY
            SELECT x.id, x.tenant_id, x.role::text, x.is_active,
                   EXISTS (SELECT 1 FROM platform_admins p WHERE p.user_id = x.id),
                   t.name::text
              FROM users x
              JOIN tenants t ON t.id = x.tenant_id
             WHERE x.supabase_auth_id = p_subject
               AND (p_tenant IS NULL OR x.tenant_id = p_tenant)
             ORDER BY t.name, x.tenant_id;
    END
    $$"""


def upgrade() -> None:
    # The result's columns change: CREATE OR REPLACE cannot do that.
    drop_definer_function(_MEMBERSHIPS)
    create_definer_function(_MEMBERSHIPS, MEMBERSHIPS_BODY)


def downgrade() -> None:
    drop_definer_function(_MEMBERSHIPS)
    create_definer_function(_MEMBERSHIPS, _identity.MEMBERSHIPS_BODY)
