"""Row-level security, proven as the app role on every table with a tenant_id column."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.exc import ProgrammingError

import models
from services.dbadmin import DatabaseRoles
from tests.rowgen import RowBuilder

#: Tenant tables the app role may only INSERT into and SELECT from.
APPEND_ONLY = ("audit_logs",)
#: Global catalogue tables the app role only reads.
CATALOGUE = ("plans", "plan_features", "plan_limits", "features", "providers", "provider_plans")

SET_TENANT = text("SELECT set_config('app.tenant_id', :t, true)")


@pytest.fixture(scope="module")
def app_engine(database):
    engine = create_engine(database["app"])
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def tenant_tables(app_engine) -> list[str]:
    """Every table with a tenant_id column, read from the live catalog."""
    with app_engine.connect() as conn:
        return list(
            conn.scalars(
                text(
                    "SELECT table_name FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND column_name = 'tenant_id'"
                    " ORDER BY table_name"
                )
            )
        )


def _as_tenant(conn, tenant_id: uuid.UUID | None) -> None:
    conn.execute(SET_TENANT, {"t": str(tenant_id) if tenant_id else ""})


@pytest.fixture(scope="module")
def two_tenants(app_engine):
    """Tenants A and B, each with one row in every tenant table, inserted as the app role."""
    ids = {}
    for name in ("a", "b"):
        tenant_id = uuid.uuid4()
        with app_engine.begin() as conn:
            _as_tenant(conn, tenant_id)
            conn.execute(
                insert(models.Base.metadata.tables["tenants"]).values(
                    id=tenant_id, name=f"rls {name}", slug=f"rls-{name}-{tenant_id.hex[:8]}"
                )
            )
            builder = RowBuilder(conn, tenant_id)
            for table in models.Base.metadata.sorted_tables:
                if "tenant_id" in table.columns:
                    builder.build(table)
        ids[name] = tenant_id
    return ids


def test_every_tenant_table_has_forced_rls_and_one_policy(app_engine, tenant_tables):
    """One policy for every role, on the tenant setting; any other is the definer role's own
    (its SECURITY DEFINER functions read across tenants without BYPASSRLS)."""
    with app_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT count(*) FROM pg_policies p WHERE p.tablename = c.relname"
                "   AND p.roles = '{public}') AS policies,"
                " (SELECT min(p.qual) FROM pg_policies p WHERE p.tablename = c.relname"
                "   AND p.roles = '{public}') AS qual,"
                " (SELECT min(p.with_check) FROM pg_policies p WHERE p.tablename = c.relname"
                "   AND p.roles = '{public}') AS with_check,"
                " (SELECT array_agg(DISTINCT r) FROM pg_policies p, unnest(p.roles) r"
                "   WHERE p.tablename = c.relname AND p.roles <> '{public}') AS others"
                " FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
                " AND c.relname = ANY(:tables)"
            ),
            {"tables": [*tenant_tables, "tenants"]},
        ).all()
    assert len(rows) == len(tenant_tables) + 1
    definer = DatabaseRoles().definer
    for name, enabled, forced, policies, qual, with_check, others in rows:
        assert enabled and forced, name
        assert policies == 1, name
        assert "current_setting('app.tenant_id'::text, true)" in qual, name
        assert qual == with_check, name
        assert others in (None, [definer]), name


def test_model_and_catalog_agree_on_tenant_tables(tenant_tables):
    modelled = sorted(t.name for t in models.Base.metadata.tables.values() if "tenant_id" in t.c)
    assert modelled == tenant_tables
    assert len(tenant_tables) >= 30


@pytest.mark.parametrize("operation", ["select", "update", "delete"])
def test_tenant_a_cannot_touch_tenant_b_rows(app_engine, tenant_tables, two_tenants, operation):
    a, b = two_tenants["a"], two_tenants["b"]
    statements = {
        "select": "SELECT count(*) FROM {t} WHERE tenant_id = :b",
        "update": "WITH u AS (UPDATE {t} SET tenant_id = tenant_id WHERE tenant_id = :b"
        " RETURNING 1) SELECT count(*) FROM u",
        "delete": "WITH d AS (DELETE FROM {t} WHERE tenant_id = :b RETURNING 1)"
        " SELECT count(*) FROM d",
    }
    for table in tenant_tables:
        if operation != "select" and table in APPEND_ONLY:
            continue  # refused outright: test_audit_logs_are_append_only_for_the_app_role
        with app_engine.begin() as conn:
            _as_tenant(conn, a)
            touched = conn.scalar(text(statements[operation].format(t=table)), {"b": b})
            own = conn.scalar(text(f"SELECT count(*) FROM {table}"))
            conn.rollback()
        assert touched == 0, f"{operation} reached tenant B in {table}"
        assert own >= 1, f"tenant A cannot see its own row in {table}"


def test_tenant_a_cannot_insert_or_move_rows_into_tenant_b(app_engine, tenant_tables, two_tenants):
    a, b = two_tenants["a"], two_tenants["b"]
    for table in tenant_tables:
        rls = pytest.raises(ProgrammingError, match="row-level")
        with app_engine.connect() as conn, rls, conn.begin():
            _as_tenant(conn, a)
            RowBuilder(conn, b).build(models.Base.metadata.tables[table])
        refused = "permission denied" if table in APPEND_ONLY else "row-level"
        denied = pytest.raises(ProgrammingError, match=refused)
        with app_engine.connect() as conn, denied, conn.begin():
            _as_tenant(conn, a)
            conn.execute(text(f"UPDATE {table} SET tenant_id = :b"), {"b": b})


def test_without_a_tenant_nothing_is_visible(app_engine, tenant_tables, two_tenants):
    with app_engine.begin() as conn:
        _as_tenant(conn, None)
        for table in [*tenant_tables, "tenants"]:
            assert conn.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table


def test_tenants_table_shows_only_the_current_tenant(app_engine, two_tenants):
    with app_engine.begin() as conn:
        _as_tenant(conn, two_tenants["a"])
        assert list(conn.scalars(text("SELECT id FROM tenants"))) == [two_tenants["a"]]


@pytest.mark.parametrize("table", CATALOGUE)
@pytest.mark.parametrize("statement", ["DELETE FROM {t}", "UPDATE {t} SET created_at = now()"])
def test_app_role_cannot_write_global_tables(app_engine, table, statement):
    with app_engine.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
        conn.execute(text(statement.format(t=table)))


def test_app_role_cannot_insert_into_global_tables(app_engine):
    with app_engine.connect() as conn:
        for table in CATALOGUE:
            with pytest.raises(ProgrammingError, match="permission denied"), conn.begin():
                RowBuilder(conn, None).build(models.Base.metadata.tables[table])


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_logs SET action = 'x'", "DELETE FROM audit_logs", "TRUNCATE audit_logs"],
)
def test_audit_logs_are_append_only_for_the_app_role(app_engine, two_tenants, statement):
    a = two_tenants["a"]
    with app_engine.connect() as conn:
        with conn.begin():
            _as_tenant(conn, a)
            assert conn.scalar(text("SELECT count(*) FROM audit_logs")) >= 1
            RowBuilder(conn, a).build(models.Base.metadata.tables["audit_logs"])
        with pytest.raises(ProgrammingError, match="permission denied"), conn.begin():
            _as_tenant(conn, a)
            conn.execute(text(statement))


def test_app_role_is_no_superuser_owns_nothing_and_cannot_bypass_rls(app_engine):
    from models.db import check_app_role

    check_app_role(app_engine)  # raises UnsafeDatabaseRole otherwise
    with app_engine.connect() as conn:
        row = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
    assert row == (False, False)


def test_app_refuses_to_start_as_the_owner(database):
    from models.db import UnsafeDatabaseRole, check_app_role

    engine = create_engine(database["owner"])
    with pytest.raises(UnsafeDatabaseRole, match="owns"):
        check_app_role(engine)
    engine.dispose()
