"""Tenancy enforced by PostgreSQL: row-level security, grants, and the narrow definer path.

Every tenant table gets RLS enabled and forced with one policy for USING and WITH CHECK on
the transaction's app.tenant_id. The app role owns nothing and gets DML on tenant tables and
SELECT on global ones. Reads that must cross tenants go through SECURITY DEFINER functions
owned by the NOLOGIN, BYPASSRLS definer role, each returning only what its caller needs.

Revision ID: 0002_tenancy_security
Revises: 0001_schema
Create Date: 2026-11-25
"""

from alembic import op

from migrations.helpers import create_definer_function, drop_definer_function, roles

revision = "0002_tenancy_security"
down_revision = "0001_schema"
branch_labels = None
depends_on = None

#: Tables holding tenant data; tests compare this with the live catalog.
TENANT_TABLES = (
    "users",
    "api_tokens",
    "audit_logs",
    "background_jobs",
    "canonical_workflows",
    "credential_health",
    "credentials",
    "deployment_workflows",
    "deployments",
    "downgrade_grace_periods",
    "drift_approvals",
    "drift_check_history",
    "drift_incidents",
    "drift_policies",
    "environment_types",
    "environments",
    "executions",
    "notification_channels",
    "notification_rules",
    "pipelines",
    "promotions",
    "reconciliation_artifacts",
    "snapshots",
    "support_tickets",
    "tenant_feature_overrides",
    "tenant_plans",
    "tenant_provider_subscriptions",
    "workflow_env_map",
    "workflow_git_state",
    "workflows",
)

#: Global tables: reference data and platform records, read-only to the app role.
GLOBAL_TABLES = (
    "alembic_version",
    "features",
    "plan_feature_requirements",
    "plan_features",
    "plan_limits",
    "plans",
    "platform_admins",
    "platform_impersonation_sessions",
    "provider_plans",
    "providers",
    "workflow_policy_matrix",
)

TENANT_SETTING = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"

#: (signature, body) of each SECURITY DEFINER function; EXECUTE goes to the app role only.
DEFINER_FUNCTIONS = {
    "auth_token_principal(p_token_hash text)": """
        RETURNS TABLE (token_id uuid, user_id uuid, tenant_id uuid, role text,
                       is_active boolean, is_platform_admin boolean,
                       expires_at timestamptz, revoked_at timestamptz)
        LANGUAGE sql VOLATILE AS $$
            -- Touch last_used_at at most once a minute so reads stay cheap.
            WITH hit AS (
                SELECT t.id, t.user_id, t.tenant_id, t.expires_at, t.revoked_at
                FROM api_tokens t WHERE t.token_hash = p_token_hash
            ), touched AS (
                UPDATE api_tokens SET last_used_at = now()
                FROM hit
                WHERE api_tokens.id = hit.id AND hit.revoked_at IS NULL
                  AND (api_tokens.last_used_at IS NULL
                       OR api_tokens.last_used_at < now() - interval '1 minute')
            )
            SELECT hit.id, u.id, u.tenant_id, u.role, u.is_active,
                   EXISTS (SELECT 1 FROM platform_admins p WHERE p.user_id = u.id),
                   hit.expires_at, hit.revoked_at
            FROM hit JOIN users u ON u.id = hit.user_id AND u.tenant_id = hit.tenant_id
        $$""",
    "auth_subject_principal(p_subject text)": """
        RETURNS TABLE (user_id uuid, tenant_id uuid, role text, is_active boolean,
                       is_platform_admin boolean)
        LANGUAGE sql STABLE AS $$
            SELECT u.id, u.tenant_id, u.role, u.is_active,
                   EXISTS (SELECT 1 FROM platform_admins p WHERE p.user_id = u.id)
            FROM users u WHERE u.supabase_auth_id = p_subject
        $$""",
    "tenant_id_for_slug(p_slug text)": """
        RETURNS uuid
        LANGUAGE sql STABLE AS $$
            SELECT id FROM tenants WHERE slug = p_slug
        $$""",
}

#: What the definer role may touch: exactly what its functions read or write.
DEFINER_GRANTS = (
    "GRANT SELECT ON api_tokens, users, platform_admins, tenants TO {definer}",
    "GRANT UPDATE (last_used_at) ON api_tokens TO {definer}",
)


def upgrade() -> None:
    app, definer = roles()
    for table in TENANT_TABLES:
        _protect(table, f"tenant_id = {TENANT_SETTING}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app}")
    # A tenant sees its own row; creating one sets app.tenant_id to the new id first.
    _protect("tenants", f"id = {TENANT_SETTING}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO {app}")
    for table in GLOBAL_TABLES:
        op.execute(f"GRANT SELECT ON {table} TO {app}")

    for grant in DEFINER_GRANTS:
        op.execute(grant.format(definer=definer))
    for signature, body in DEFINER_FUNCTIONS.items():
        create_definer_function(signature, body)


def _protect(table: str, predicate: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})"
    )


def downgrade() -> None:
    app, definer = roles()
    for signature in DEFINER_FUNCTIONS:
        drop_definer_function(signature)
    op.execute(f"REVOKE ALL ON api_tokens, users, platform_admins, tenants FROM {definer}")
    for table in (*TENANT_TABLES, "tenants"):
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.execute(f"REVOKE ALL ON {table} FROM {app}")
    for table in GLOBAL_TABLES:
        op.execute(f"REVOKE ALL ON {table} FROM {app}")
