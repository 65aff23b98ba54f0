"""Small pieces the migrations share: role names, SECURITY DEFINER functions, and the definer
role's own row-level security policies."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from services.config import Settings


def roles() -> tuple[str, str]:
    """The quoted (app role, definer role) the grants go to: those the migration was started
    with (services.dbadmin.migrate), else APP_DB_ROLE / DEFINER_DB_ROLE."""
    given = context.config.attributes.get("db_roles")
    if given is not None:
        return f'"{given.app}"', f'"{given.definer}"'
    settings = Settings.from_env()
    return f'"{settings.app_db_role}"', f'"{settings.definer_db_role}"'


def create_definer_function(signature: str, body: str) -> None:
    """Create a function that runs as the definer role; only the app may call it. Each table
    it reads needs ``grant_definer`` (the definer has no BYPASSRLS)."""
    app, definer = roles()
    # Handing a function to the definer needs it to have CREATE on the schema, briefly.
    op.execute(f"GRANT CREATE ON SCHEMA public TO {definer}")
    op.execute(
        f"CREATE FUNCTION {signature} {body} SECURITY DEFINER SET search_path = public, pg_temp"
    )
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {app}")
    op.execute(f"ALTER FUNCTION {signature} OWNER TO {definer}")
    op.execute(f"REVOKE CREATE ON SCHEMA public FROM {definer}")


def drop_definer_function(signature: str) -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {signature}")


#: The row-level-security predicate every tenant table's policy uses (see 0002).
TENANT_SETTING = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def protect_tenant_table(table: str) -> None:
    """Give a new tenant table what 0002 gave the first ones: RLS enabled and forced, one
    policy on the transaction's tenant, DML for the app role."""
    app, _ = roles()
    predicate = f"tenant_id = {TENANT_SETTING}"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {app}")


#: Name of the definer's permissive policies (one per command it needs on a table).
DEFINER_POLICY = "definer_{command}"


def grant_definer(table: str, *, command: str = "select") -> None:
    """Let the definer's functions see every row of ``table`` for ``command`` (select or
    update): a permissive policy for that role alone, added to the tenant policy every other
    role gets. No role needs BYPASSRLS, which managed PostgreSQL services do not grant."""
    _, definer = roles()
    name = DEFINER_POLICY.format(command=command)
    check = " WITH CHECK (true)" if command == "update" else ""
    op.execute(
        f"CREATE POLICY {name} ON {table} AS PERMISSIVE FOR {command.upper()}"
        f" TO {definer} USING (true){check}"
    )


def revoke_definer(table: str, *, command: str = "select") -> None:
    op.execute(f"DROP POLICY IF EXISTS {DEFINER_POLICY.format(command=command)} ON {table}")


def tenant_columns(table: str) -> list:
    """What every tenant table starts with: tenant_id, id, timestamps, their keys (the
    (id, tenant_id) key is what tenant-scoped foreign keys point at)."""
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
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("id", "tenant_id", name=op.f(f"uq_{table}_id_tenant_id")),
    ]


def tenant_fk(table: str, column: str, target: str, ondelete: str):
    """A foreign key that includes tenant_id (a row points only inside its tenant); SET NULL
    nulls ``column`` alone."""
    if ondelete == "SET NULL":
        ondelete = f"SET NULL ({column})"
    return sa.ForeignKeyConstraint(
        [column, "tenant_id"],
        [f"{target}.id", f"{target}.tenant_id"],
        name=op.f(f"fk_{table}_{column}"),
        ondelete=ondelete,
    )


def across_tenants(statement: str, *tables: str) -> None:
    """Run ``statement`` over every tenant's rows of ``tables``: FORCE'd row-level security
    applies to the owner too, so it is lifted for this statement only."""
    for table in tables:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(statement)
    for table in tables:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
