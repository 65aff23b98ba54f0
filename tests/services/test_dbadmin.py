"""The one-command database set-up, run the way a managed PostgreSQL allows it: as a role with
only CREATEDB and CREATEROLE, so no role can get BYPASSRLS; the platform's cross-tenant paths
(token lookup, slug lookup, the clock's scans) must work all the same."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from jobs import core
from models.db import db, reset_context, tenant_scope
from services import admin_cli, dbadmin
from tests.factories import Factory


@pytest.fixture
def installer(database):
    """A login role with CREATEDB and CREATEROLE only, its own role names and database name;
    everything it creates is dropped afterwards (the shared roles are never touched)."""
    admin = database["admin"]
    suffix = uuid.uuid4().hex[:8]
    name = f"n8nops_installer_{suffix}"
    roles = dbadmin.DatabaseRoles(
        owner=f"n8nops_owner_{suffix}", app=f"n8nops_app_{suffix}", definer=f"n8nops_def_{suffix}"
    )
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{name}" LOGIN CREATEDB CREATEROLE'))
    yield {
        "url": dbadmin.url_for(admin, database="postgres", user=name, password="unused"),
        "roles": roles,
        "database": f"n8nops_managed_{suffix}",
    }
    dbadmin.drop_database(admin, f"n8nops_managed_{suffix}")
    with engine.connect() as conn:
        for role in (roles.app, roles.owner, roles.definer, name):
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    engine.dispose()


def _invoke(installer, admin_url: str, **env):
    roles = installer["roles"]
    return CliRunner().invoke(
        admin_cli.main,
        [
            "setup-database",
            "--admin-url",
            admin_url,
            "--database",
            installer["database"],
            "--owner-role",
            roles.owner,
            "--app-role",
            roles.app,
            "--definer-role",
            roles.definer,
        ],
        env=env,
    )


def _setup(installer, **env) -> str:
    # The form Heroku-style platforms hand out.
    url = installer["url"].replace("postgresql+psycopg://", "postgres://")
    result = _invoke(installer, url, **env)
    assert result.exit_code == 0, result.output
    return result.output


def _attributes(admin_url: str, names) -> dict:
    engine = create_engine(admin_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT rolname, rolsuper, rolbypassrls, rolcanlogin FROM pg_roles"
                " WHERE rolname = ANY(:names)"
            ),
            {"names": list(names)},
        ).all()
    engine.dispose()
    return {row.rolname: row for row in rows}


def test_setup_as_createdb_createrole_creates_roles_and_database_once(installer, database):
    roles = installer["roles"]
    first = _setup(installer)
    assert f"created role {roles.owner}" in first and f"created role {roles.app}" in first
    assert f"created database {installer['database']} (owner {roles.owner})" in first
    # Generated passwords are printed once, inside the URLs the processes need.
    urls = dict(line.split("=", 1) for line in first.splitlines() if "_URL=" in line)
    assert f"{roles.app}:" in urls["DATABASE_URL"]
    assert f"{roles.owner}:" in urls["MIGRATION_DATABASE_URL"]
    attributes = _attributes(database["admin"], (*roles.login_roles(), roles.definer))
    assert not any(a.rolsuper or a.rolbypassrls for a in attributes.values())
    assert not attributes[roles.definer].rolcanlogin

    again = _setup(installer)
    assert "created role" not in again and "kept database" in again
    assert "(password unchanged)" in again
    # A password from the environment is (re)set on every run, and shown.
    assert f"{roles.app}:s3cret@" in _setup(installer, APP_DB_PASSWORD="s3cret")


def test_the_platform_runs_on_it_without_bypassrls(installer, database, make_app, fake_n8n):
    roles = installer["roles"]
    _setup(installer)
    owner_url = dbadmin.url_for(database["admin"], database=installer["database"], user=roles.owner)
    dbadmin.migrate(owner_url, roles=roles)
    app = make_app(
        database_url=dbadmin.url_for(
            database["admin"], database=installer["database"], user=roles.app
        ),
        migration_database_url=owner_url,
        app_db_role=roles.app,
        definer_db_role=roles.definer,
    )
    factory = Factory(app)
    tenant, other = factory.tenant(("admin",)), factory.tenant(("admin",))
    factory.environment(other.id, fake_n8n)
    client = app.test_client()

    # Token lookup before any tenant is known (auth_token_principal).
    me = client.get("/api/v1/me", headers=tenant.admin)
    assert me.status_code == 200 and me.json["tenant"]["slug"] == tenant.slug
    # Slug lookup (tenant_id_for_slug).
    created = app.test_cli_runner().invoke(
        args=["create-user", "--tenant", other.slug, "--email", "x@other.example"]
    )
    assert created.exit_code == 0, created.output
    # The clock's scans, as the app role with no tenant set, see every tenant's rows.
    with app.app_context():
        with tenant_scope(tenant.id):
            job = core.start("noop")
            db.commit()
        reset_context()
        tenant_ids = set(db.scalars(text("SELECT all_tenant_ids()")))
        scheduled = db.execute(text("SELECT tenant_id FROM scheduled_environments()")).all()
        # Sent at once after its commit: the relay's broker check lists it.
        sent_pending = db.scalars(
            text("SELECT id FROM jobs_sent_pending(-1, '-infinity', :nil, 100)"),
            {"nil": uuid.UUID(int=0)},
        ).all()
        db.rollback()
    assert {tenant.id, other.id} <= tenant_ids
    assert [row.tenant_id for row in scheduled] == [other.id]
    assert job.id in sent_pending


def test_setup_refuses_a_database_owned_by_another_role(installer, database):
    dbadmin.create_database(database["admin"], installer["database"], owner="postgres")
    result = _invoke(installer, installer["url"])
    assert result.exit_code == 1
    assert "is owned by 'postgres'" in result.output
    assert "Traceback" not in result.output
