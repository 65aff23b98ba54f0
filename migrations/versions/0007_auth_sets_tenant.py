"""Authentication in one round trip: the definer functions, now PL/pgSQL (their plans are
cached per connection instead of re-planned per call), also set app.tenant_id for the
caller's transaction when the principal is valid. The relay's scan also returns pending jobs
whose message went out long ago and never started (a consumer lost it), to send again.

Revision ID: 0007_auth_sets_tenant
Revises: 0006_execution_keyset_indexes
Create Date: 2026-11-25
"""

from migrations.helpers import create_definer_function, drop_definer_function

revision = "0007_auth_sets_tenant"
down_revision = "0006_execution_keyset_indexes"
branch_labels = None
depends_on = None

_BY_HASH = "auth_token_principal(p_token_hash text)"
_SUBJECT = "auth_subject_principal(p_subject text)"
_OLD_RELAY = "jobs_unenqueued(p_older_than_s double precision, p_limit integer)"
_RELAY = (
    "jobs_unenqueued(p_older_than_s double precision, p_stale_after_s double precision,"
    " p_limit integer)"
)

BY_HASH_BODY = """
    RETURNS TABLE (token_id uuid, user_id uuid, tenant_id uuid, role text,
                   is_active boolean, is_platform_admin boolean,
                   expires_at timestamptz, revoked_at timestamptz)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        t record;
    BEGIN
        SELECT a.id, a.user_id, a.tenant_id, a.expires_at, a.revoked_at, a.last_used_at,
               u.role, u.is_active,
               EXISTS (SELECT 1 FROM platform_admins p WHERE p.user_id = u.id) AS is_admin
          INTO t
          FROM api_tokens a JOIN users u ON u.id = a.user_id AND u.tenant_id = a.tenant_id
         WHERE a.token_hash = p_token_hash;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        IF t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
           AND t.is_active THEN
            -- Touched at most once a minute, so reads stay cheap.
            IF t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' THEN
                UPDATE api_tokens SET last_used_at = now() WHERE id = t.id;
            END IF;
            PERFORM set_config('app.tenant_id', t.tenant_id::text, true);
        END IF;
        RETURN QUERY SELECT t.id, t.user_id, t.tenant_id, t.role::text, t.is_active,
                            t.is_admin, t.expires_at, t.revoked_at;
    END
    $$"""

SUBJECT_BODY = """
    RETURNS TABLE (user_id uuid, tenant_id uuid, role text, is_active boolean,
                   is_platform_admin boolean)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        u record;
    BEGIN
        SELECT x.id, x.tenant_id, x.role, x.is_active,
               EXISTS (SELECT 1 FROM platform_admins p WHERE p.user_id = x.id) AS is_admin
          INTO u
          FROM users x WHERE x.supabase_auth_id = p_subject;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        IF u.is_active THEN
            PERFORM set_config('app.tenant_id', u.tenant_id::text, true);
        END IF;
        RETURN QUERY SELECT u.id, u.tenant_id, u.role::text, u.is_active, u.is_admin;
    END
    $$"""

RELAY_BODY = """
    RETURNS TABLE (id uuid, tenant_id uuid)
    LANGUAGE sql STABLE AS $$
        SELECT id, tenant_id FROM background_jobs
        WHERE status = 'pending'
          AND ((enqueued_at IS NULL
                AND created_at < now() - make_interval(secs => p_older_than_s))
               OR enqueued_at < now() - make_interval(secs => p_stale_after_s))
        ORDER BY created_at LIMIT p_limit
    $$"""

OLD_RELAY_BODY = """
    RETURNS TABLE (id uuid, tenant_id uuid)
    LANGUAGE sql STABLE AS $$
        SELECT id, tenant_id FROM background_jobs
        WHERE status = 'pending' AND enqueued_at IS NULL
          AND created_at < now() - make_interval(secs => p_older_than_s)
        ORDER BY created_at LIMIT p_limit
    $$"""

OLD_BY_HASH_BODY = """
    RETURNS TABLE (token_id uuid, user_id uuid, tenant_id uuid, role text,
                   is_active boolean, is_platform_admin boolean,
                   expires_at timestamptz, revoked_at timestamptz)
    LANGUAGE sql VOLATILE AS $$
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
    $$"""

OLD_SUBJECT_BODY = """
    RETURNS TABLE (user_id uuid, tenant_id uuid, role text, is_active boolean,
                   is_platform_admin boolean)
    LANGUAGE sql STABLE AS $$
        SELECT u.id, u.tenant_id, u.role, u.is_active,
               EXISTS (SELECT 1 FROM platform_admins p WHERE p.user_id = u.id)
        FROM users u WHERE u.supabase_auth_id = p_subject
    $$"""


def _replace(pairs: tuple[tuple[str, str, str], ...]) -> None:
    for old, new, body in pairs:
        drop_definer_function(old)
        create_definer_function(new, body)


def upgrade() -> None:
    _replace(
        (
            (_BY_HASH, _BY_HASH, BY_HASH_BODY),
            (_SUBJECT, _SUBJECT, SUBJECT_BODY),
            (_OLD_RELAY, _RELAY, RELAY_BODY),
        )
    )


def downgrade() -> None:
    _replace(
        (
            (_BY_HASH, _BY_HASH, OLD_BY_HASH_BODY),
            (_SUBJECT, _SUBJECT, OLD_SUBJECT_BODY),
            (_RELAY, _OLD_RELAY, OLD_RELAY_BODY),
        )
    )
