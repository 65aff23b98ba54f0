"""Identity bound by its owner, memberships in several tenants, an append-only audit trail.

- A sign-in subject is unique per tenant, no longer platform-wide: one person may belong to
  several tenants, and no tenant can learn (by a conflict) that a subject exists elsewhere.
- user_invitations: an admin invites by email; the invitee accepts with their own JWT and
  a single-use, expiring token (stored as its SHA-256), through accept_invitation, which
  binds the JWT's subject to the invited user row.
- auth_subject_principal gives way to auth_subject_memberships, which takes the tenant the
  caller names (X-Tenant-ID) and sets app.tenant_id only when exactly one active membership
  matches.
- The app role may only INSERT and SELECT audit_logs.

Revision ID: i8b_identity
Revises: i13_perf
Create Date: 2026-12-01
"""

import importlib

import sqlalchemy as sa
from alembic import op

from migrations.helpers import (
    create_definer_function,
    drop_definer_function,
    grant_definer,
    protect_tenant_table,
    revoke_definer,
    roles,
)

revision = "i8b_identity"
down_revision = "i13_perf"
branch_labels = None
depends_on = None

_OLD_SUBJECT = "auth_subject_principal(p_subject text)"
_MEMBERSHIPS = "auth_subject_memberships(p_subject text, p_tenant uuid)"
_ACCEPT = "accept_invitation(p_token_hash text, p_subject text)"
#: The subject lookup this replaces, restored by downgrade.
_OLD_SUBJECT_BODY = importlib.import_module(
    "migrations.versions.0007_auth_sets_tenant"
).SUBJECT_BODY

MEMBERSHIPS_BODY = """
    RETURNS TABLE (user_id uuid, tenant_id uuid, role text, is_active boolean,
                   is_platform_admin boolean)
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
                   EXISTS (SELECT 1 FROM platform_admins p WHERE p.user_id = x.id)
              FROM users x
             WHERE x.supabase_auth_id = p_subject
               AND (p_tenant IS NULL OR x.tenant_id = p_tenant)
             ORDER BY x.tenant_id;
    END
    $$"""

ACCEPT_BODY = """
    RETURNS TABLE (user_id uuid, tenant_id uuid, outcome text)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        inv record;
    BEGIN
        -- The row lock makes a token single-use even when two accepts race.
        SELECT i.id, i.user_id, i.tenant_id INTO inv
          FROM user_invitations i
         WHERE i.token_hash = p_token_hash AND i.accepted_at IS NULL AND i.expires_at > now()
         FOR UPDATE;
        IF NOT FOUND THEN
            RETURN QUERY SELECT NULL::uuid, NULL::uuid, 'invalid'::text;
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = inv.tenant_id
                   AND u.supabase_auth_id = p_subject) THEN
            RETURN QUERY SELECT inv.user_id, inv.tenant_id, 'already_member'::text;
            RETURN;
        END IF;
        UPDATE users SET supabase_auth_id = p_subject, updated_at = now()
         WHERE id = inv.user_id AND users.tenant_id = inv.tenant_id
           AND supabase_auth_id IS NULL AND is_active;
        IF NOT FOUND THEN
            RETURN QUERY SELECT NULL::uuid, NULL::uuid, 'invalid'::text;
            RETURN;
        END IF;
        UPDATE user_invitations SET accepted_at = now() WHERE id = inv.id;
        PERFORM set_config('app.tenant_id', inv.tenant_id::text, true);
        RETURN QUERY SELECT inv.user_id, inv.tenant_id, 'accepted'::text;
    END
    $$"""

#: (table, command) the new definer functions need beyond 0014's.
DEFINER_ACCESS = (
    ("users", "update"),
    ("user_invitations", "select"),
    ("user_invitations", "update"),
)


def upgrade() -> None:
    app, definer = roles()
    op.drop_constraint("uq_users_supabase_auth_id", "users", type_="unique")
    op.create_unique_constraint(
        "uq_users_tenant_id_supabase_auth_id", "users", ["tenant_id", "supabase_auth_id"]
    )
    op.create_table(
        "user_invitations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_user_invitations_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "tenant_id"],
            ["users.id", "users.tenant_id"],
            name=op.f("fk_user_invitations_user_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_invitations")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f("uq_user_invitations_id_tenant_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_invitations_token_hash")),
    )
    op.create_index(op.f("ix_user_invitations_tenant_id"), "user_invitations", ["tenant_id"])
    op.create_index(
        "ix_user_invitations_tenant_id_user_id", "user_invitations", ["tenant_id", "user_id"]
    )
    protect_tenant_table("user_invitations")
    op.execute(f"GRANT SELECT, UPDATE (accepted_at) ON user_invitations TO {definer}")
    op.execute(f"GRANT UPDATE (supabase_auth_id, updated_at) ON users TO {definer}")
    for table, command in DEFINER_ACCESS:
        grant_definer(table, command=command)
    drop_definer_function(_OLD_SUBJECT)
    create_definer_function(_MEMBERSHIPS, MEMBERSHIPS_BODY)
    create_definer_function(_ACCEPT, ACCEPT_BODY)
    # Append-only: what happened stays written, whoever the app's credentials leak to.
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_logs FROM {app}")


def downgrade() -> None:
    app, definer = roles()
    op.execute(f"GRANT UPDATE, DELETE ON audit_logs TO {app}")
    drop_definer_function(_ACCEPT)
    drop_definer_function(_MEMBERSHIPS)
    create_definer_function(_OLD_SUBJECT, _OLD_SUBJECT_BODY)
    for table, command in DEFINER_ACCESS:
        revoke_definer(table, command=command)
    op.execute(f"REVOKE UPDATE (supabase_auth_id, updated_at) ON users FROM {definer}")
    op.drop_table("user_invitations")
    op.drop_constraint("uq_users_tenant_id_supabase_auth_id", "users", type_="unique")
    op.create_unique_constraint("uq_users_supabase_auth_id", "users", ["supabase_auth_id"])
