"""Database set-up for first installs, development and tests: roles, databases, migrations.

Three roles keep row-level security honest:
- the owner owns the database (so its public schema) and runs migrations;
- the app role (web, worker, clock) owns nothing, is no superuser and cannot bypass RLS;
- the definer role (NOLOGIN) owns the few SECURITY DEFINER functions that must read across
  tenants (resolving a token before the tenant is known, the clock's scans). It needs no
  BYPASSRLS: it has permissive policies of its own on exactly the tables those functions read
  (migrations/helpers.py), so the set-up works where the installer cannot grant BYPASSRLS.

Everything here runs as an installer role that has at least CREATEDB and CREATEROLE (a
superuser in development, the admin user of a managed PostgreSQL in production).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from psycopg import sql
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.engine import URL

from services.config import normalize_database_url

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"

#: Arbitrary constant key of the advisory lock that serialises role creation across processes.
_ROLE_LOCK_KEY = 7_245_001
#: Bytes of randomness in a generated password (URL-safe, so it fits in a connection URL).
PASSWORD_BYTES = 24

_NO_PRIVILEGES = "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"


@dataclass(frozen=True)
class DatabaseRoles:
    owner: str = "n8nops_owner"
    app: str = "n8nops_app"
    definer: str = "n8nops_definer"

    def login_roles(self) -> tuple[str, str]:
        return self.owner, self.app


@dataclass
class SetupReport:
    """What ``setup_database`` did; ``passwords`` holds only passwords it set just now."""

    created_roles: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    created_database: bool = False


class SetupRefused(RuntimeError):
    """The database or a role exists in a shape the platform must not run with."""


def _admin_engine(admin_url: str):
    # As the processes' engine (models.db): no parameters in exception texts or logs.
    return create_engine(
        normalize_database_url(admin_url), isolation_level="AUTOCOMMIT", hide_parameters=True
    )


def _run(conn: Connection, statement: sql.Composable) -> None:
    """Run a DDL statement composed with psycopg's quoting (names and literals)."""
    conn.connection.driver_connection.execute(statement)


def _ensure_roles(
    conn: Connection, roles: DatabaseRoles, passwords: Mapping[str, str | None], generate: bool
) -> SetupReport:
    report = SetupReport()
    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ROLE_LOCK_KEY})
    try:
        existing = {
            row.rolname: row
            for row in conn.execute(text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles"))
        }
        wanted = {
            roles.owner: f"LOGIN {_NO_PRIVILEGES}",
            roles.app: f"LOGIN {_NO_PRIVILEGES}",
            roles.definer: f"NOLOGIN {_NO_PRIVILEGES}",
        }
        for name, options in wanted.items():
            password = passwords.get(name)
            if name not in existing:
                if password is None and generate and name in roles.login_roles():
                    password = secrets.token_urlsafe(PASSWORD_BYTES)
                statement = sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(name))
                if password is not None:
                    statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
                _run(conn, statement)
                report.created_roles.append(name)
            elif password is not None:
                _run(
                    conn,
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(name), sql.Literal(password)
                    ),
                )
            if password is not None:
                report.passwords[name] = password
        app = existing.get(roles.app)
        if app is not None and (app.rolsuper or app.rolbypassrls):
            raise SetupRefused(
                f"role {roles.app!r} exists as a superuser or with BYPASSRLS; the app role must "
                "be one row-level security applies to (drop it or pick another name)"
            )
        # The owner hands function ownership to the definer in migrations.
        _run(
            conn,
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(roles.definer), sql.Identifier(roles.owner)
            ),
        )
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ROLE_LOCK_KEY})
    return report


def ensure_roles(admin_url: str, roles: DatabaseRoles = DatabaseRoles()) -> None:
    """Create the three roles if missing (password-less: development and tests, where the
    server trusts local connections); existing roles keep their attributes. Safe to run
    concurrently."""
    engine = _admin_engine(admin_url)
    with engine.connect() as conn:
        _ensure_roles(conn, roles, {}, generate=False)
    engine.dispose()


def setup_database(
    admin_url: str,
    database: str,
    *,
    roles: DatabaseRoles = DatabaseRoles(),
    passwords: Mapping[str, str | None] | None = None,
) -> SetupReport:
    """Make ``database`` ready for migrations, idempotently: the three roles (login roles get
    the given password, or a generated one when they are created), the owner owning the
    database, and the app role allowed to connect. Needs CREATEDB and CREATEROLE, nothing more.
    """
    engine = _admin_engine(admin_url)
    with engine.connect() as conn:
        report = _ensure_roles(conn, roles, passwords or {}, generate=True)
        installer = conn.execute(
            text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        ).one()
        if not installer.rolsuper:
            # CREATE DATABASE ... OWNER needs the installer to be able to act as the owner.
            _run(
                conn,
                sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(roles.owner), sql.Identifier(installer.current_user)
                ),
            )
        owner = conn.scalar(
            text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :n"),
            {"n": database},
        )
        if owner is None:
            _run(
                conn,
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(roles.owner)
                ),
            )
            report.created_database = True
        elif owner != roles.owner:
            raise SetupRefused(
                f"database {database!r} exists and is owned by {owner!r}, not {roles.owner!r}; "
                "the schema owner must own it (ALTER DATABASE ... OWNER TO, or pick another name)"
            )
        for statement in (
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
            "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {app}",
        ):
            _run(
                conn,
                sql.SQL(statement).format(
                    db=sql.Identifier(database), app=sql.Identifier(roles.app)
                ),
            )
    engine.dispose()
    return report


def create_database(admin_url: str, name: str, *, owner: str) -> None:
    engine = _admin_engine(admin_url)
    with engine.connect() as conn:
        _run(
            conn,
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            ),
        )
    engine.dispose()


def database_exists(admin_url: str, name: str) -> bool:
    engine = _admin_engine(admin_url)
    with engine.connect() as conn:
        found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    engine.dispose()
    return bool(found)


def drop_database(admin_url: str, name: str) -> None:
    engine = _admin_engine(admin_url)
    with engine.connect() as conn:
        _run(conn, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    engine.dispose()


def url_for(admin_url: str, *, database: str, user: str, password: str | None = None) -> str:
    """The admin URL pointed at another database as another user (password-less unless
    given: development and tests trust local connections)."""
    url: URL = make_url(normalize_database_url(admin_url)).set(
        database=database, username=user, password=password
    )
    return url.render_as_string(hide_password=False)


# --- migrations ----------------------------------------------------------------------------


def check_migration_role(conn: Connection) -> None:
    """Refuse to migrate as anyone but the schema owner: the role that owns the database (and
    so, from PostgreSQL 15, its public schema), is no superuser, and owns what exists already.
    Tables created by a superuser by mistake would leave the app role's grants and the
    policies' FORCE meaningless."""
    row = conn.execute(
        text(
            "SELECT current_user AS who, r.rolsuper,"
            " pg_get_userbyid(d.datdba) AS db_owner,"
            " (SELECT pg_get_userbyid(c.relowner) FROM pg_class c"
            "   WHERE c.relname = 'alembic_version'"
            "     AND c.relnamespace = 'public'::regnamespace) AS schema_owner"
            " FROM pg_roles r, pg_database d"
            " WHERE r.rolname = current_user AND d.datname = current_database()"
        )
    ).one()
    expected = row.schema_owner or row.db_owner
    advice = "set MIGRATION_DATABASE_URL to the schema owner's connection (README, Deploy)"
    if row.rolsuper:
        raise CommandError(
            f"migrations refuse to run as the superuser {row.who} (it would own the tables): "
            f"{advice}"
        )
    if row.who != expected:
        raise CommandError(
            f"migrations run as the schema owner {expected}, not {row.who}: {advice}"
        )


def alembic_config(url: str, roles: DatabaseRoles | None = None) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    if roles is not None:
        config.attributes["db_roles"] = roles
    return config


def migrate(url: str, revision: str = "head", *, roles: DatabaseRoles | None = None) -> None:
    command.upgrade(alembic_config(url, roles), revision)
