"""Migrations build the whole schema from empty, match the models, and downgrade cleanly."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect, make_url, select, text

import models
from services import dbadmin
from tests.rowgen import RowBuilder


@pytest.fixture(scope="module")
def scratch(database):
    """A second database, so downgrading does not disturb the session's one."""
    admin = database["admin"]
    name = f"n8nops_migrations_{uuid.uuid4().hex[:8]}"
    dbadmin.create_database(admin, name, owner=dbadmin.DatabaseRoles().owner)
    yield dbadmin.url_for(admin, database=name, user=dbadmin.DatabaseRoles().owner)
    dbadmin.drop_database(admin, name)


def _diff(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    engine.dispose()
    return diff


def test_models_and_migrations_agree(database):
    assert _diff(database["owner"]) == []


def test_downgrade_to_base_and_upgrade_again(scratch):
    config = dbadmin.alembic_config(scratch)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = create_engine(scratch)
    assert inspect(engine).get_table_names() == ["alembic_version"]
    command.upgrade(config, "head")
    assert len(inspect(engine).get_table_names()) == len(models.Base.metadata.tables) + 1
    engine.dispose()
    assert _diff(scratch) == []


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("executions", ["tenant_id", "environment_id", "started_at"]),
        ("executions", ["tenant_id", "workflow_id", "started_at"]),
        ("background_jobs", ["tenant_id", "status", "created_at"]),
        ("audit_logs", ["tenant_id", "created_at"]),
        ("drift_incidents", ["tenant_id", "environment_id", "status"]),
    ],
)
def test_list_query_indexes_exist(database, table, columns):
    engine = create_engine(database["owner"])
    indexes = [ix["column_names"] for ix in inspect(engine).get_indexes(table)]
    engine.dispose()
    assert any(index[: len(columns)] == columns for index in indexes), indexes


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("environments", ["tenant_id", "name"]),
        ("workflow_env_map", ["tenant_id", "environment_id", "n8n_workflow_id"]),
        ("executions", ["tenant_id", "environment_id", "n8n_execution_id"]),
    ],
)
def test_unique_constraints_of_the_spec(database, table, columns):
    engine = create_engine(database["owner"])
    uniques = [u["column_names"] for u in inspect(engine).get_unique_constraints(table)]
    engine.dispose()
    assert columns in uniques


def test_every_foreign_key_states_its_delete_rule_and_stays_in_its_tenant(database):
    engine = create_engine(database["owner"])
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.conrelid::regclass::text, c.conname, c.confdeltype,"
                " pg_get_constraintdef(c.oid)"
                " FROM pg_constraint c WHERE c.contype = 'f'"
                " AND c.connamespace = 'public'::regnamespace"
            )
        ).all()
        tenant_tables = set(
            conn.scalars(
                text(
                    "SELECT table_name FROM information_schema.columns"
                    " WHERE table_schema='public' AND column_name='tenant_id'"
                )
            )
        )
    engine.dispose()
    assert rows
    for table, name, delete_rule, definition in rows:
        # 'a' is NO ACTION: the default PostgreSQL picks when nobody decided.
        assert delete_rule != "a", f"{table}.{name} has no ON DELETE rule"
        target = definition.split("REFERENCES ")[1].split("(")[0]
        if table in tenant_tables and target in tenant_tables:
            assert "tenant_id" in definition.split("REFERENCES")[0], f"{table}.{name}"


def test_enumerated_columns_match_the_models(database):
    """alembic check does not compare CHECK constraints; this does."""
    from sqlalchemy import CheckConstraint

    engine = create_engine(database["owner"])
    with engine.connect() as conn:
        live = dict(
            conn.execute(
                text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
                )
            ).all()
        )
    engine.dispose()
    checked = 0
    for table in models.Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint) and "values" in constraint.info:
                allowed = re.findall(r"'([^']*)'::", live[constraint.name])
                assert sorted(allowed) == sorted(constraint.info["values"]), constraint.name
                checked += 1
    assert checked >= 40


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("postgres", "refuse to run as the superuser postgres"),
        (dbadmin.DatabaseRoles().app, "run as the schema owner n8nops_owner, not n8nops_app"),
    ],
)
def test_migrations_refuse_any_role_but_the_schema_owner(scratch, database, who, reason):
    """A release step run as a superuser (or the app) would own tables it must not."""
    url = dbadmin.url_for(database["admin"], database=make_url(scratch).database, user=who)
    with pytest.raises(CommandError) as refused:
        dbadmin.migrate(url)
    assert reason in str(refused.value)
    assert "MIGRATION_DATABASE_URL" in str(refused.value)


def test_the_definer_reads_only_tables_it_has_policies_for(database):
    """Every row-secured table the definer role may touch has a policy for that role alone,
    so its functions never depend on BYPASSRLS (which managed PostgreSQL does not grant)."""
    definer = dbadmin.DatabaseRoles().definer
    engine = create_engine(database["owner"])
    with engine.connect() as conn:
        privileges = conn.execute(
            text(
                "SELECT c.relname, p.privilege_type FROM pg_class c"
                " JOIN information_schema.role_table_grants p"
                "   ON p.table_name = c.relname AND p.table_schema = 'public'"
                " WHERE c.relrowsecurity AND p.grantee = :definer"
            ),
            {"definer": definer},
        ).all()
        policies = set(
            conn.execute(
                text(
                    "SELECT tablename, cmd FROM pg_policies"
                    " WHERE schemaname = 'public' AND :definer = ANY(roles)"
                ),
                {"definer": definer},
            ).all()
        )
    engine.dispose()
    assert privileges
    for table, privilege in privileges:
        assert (table, privilege) in policies, f"{definer} has {privilege} on {table}, no policy"


def _rollups_before(scratch, before: str, table: str, span: str, rows) -> tuple:
    """A scratch database at ``before`` with roll-up ``rows`` (workflow, span start, total,
    durations) in ``table``, then upgraded to head: the engine and the tenant's id."""
    config = dbadmin.alembic_config(scratch)
    command.upgrade(config, "head")  # whatever ran on the scratch database before
    command.downgrade(config, before)
    engine = create_engine(scratch)
    tables = models.Base.metadata.tables
    with engine.begin() as conn:
        tenant_id = uuid.uuid4()
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
        conn.execute(tables["tenants"].insert().values(id=tenant_id, name="t", slug=tenant_id.hex))
        builder = RowBuilder(conn, tenant_id)
        env_id = builder.build(tables["environments"])["id"]
        for workflow, start, total, durations in rows:
            conn.execute(
                tables[table]
                .insert()
                .values(
                    tenant_id=tenant_id,
                    environment_id=env_id,
                    workflow_id=workflow,
                    total=total,
                    success=total,
                    error=0,
                    running=0,
                    waiting=0,
                    durations=durations,
                    **{span: start},
                )
            )
    command.upgrade(config, "head")
    return engine, tenant_id


def _summed_rows(engine, tenant_id, table: str, span: str, *where) -> list[tuple]:
    rollups = models.Base.metadata.tables[table]
    with engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
        summed = conn.execute(
            select(rollups.c.workflow_id, rollups.c[span], rollups.c.total, rollups.c.durations)
            .where(*where)
            .order_by(rollups.c.workflow_id, rollups.c[span])
        ).all()
    engine.dispose()
    return summed


@pytest.mark.parametrize(
    ("before", "table", "span", "step"),
    [
        # i13e_environment_days: each environment's day gets one row summing its workflows'.
        ("i13d_counts", "execution_daily_rollups", "day", timedelta(days=1)),
        # i13i_environment_hours: and each of its hours.
        ("i13h_job_indexes", "execution_rollups", "hour", timedelta(hours=1)),
    ],
)
def test_environment_rows_are_summed_from_the_workflows_rows(scratch, before, table, span, step):
    now = datetime.now(UTC).replace(hour=5, minute=0, second=0, microsecond=0)
    rows = [
        ("wf-1", now, 3, {"40": 2, "41": 1}),
        ("wf-2", now, 2, {"41": 2}),
        ("wf-1", now - step, 1, {"50": 1}),
    ]
    engine, tenant_id = _rollups_before(scratch, before, table, span, rows)
    rollups = models.Base.metadata.tables[table]
    assert _summed_rows(engine, tenant_id, table, span, rollups.c.workflow_id == "") == [
        ("", now - step, 1, {"50": 1}),
        ("", now, 5, {"40": 2, "41": 3}),
    ]


def test_weeks_are_summed_from_the_days(scratch):
    """i13j_weekly_rollups: each workflow's (and the environment's) week from its days."""
    week = datetime(2026, 3, 5, tzinfo=UTC)  # a Thursday: weeks start there
    rows = [
        ("wf-1", week, 3, {"40": 2, "41": 1}),
        ("wf-1", week + timedelta(days=6), 2, {"41": 2}),
        ("wf-1", week - timedelta(days=1), 1, {"50": 1}),
        ("", week + timedelta(days=2), 4, {"40": 4}),
    ]
    engine, tenant_id = _rollups_before(
        scratch, "i13i_environment_hours", "execution_daily_rollups", "day", rows
    )
    assert _summed_rows(engine, tenant_id, "execution_weekly_rollups", "week") == [
        ("", week, 4, {"40": 4}),
        ("wf-1", week - timedelta(days=7), 1, {"50": 1}),
        ("wf-1", week, 5, {"40": 2, "41": 3}),
    ]
