"""Database set-up for development, tests and first installs: roles, databases, migrations.

Three roles keep row-level security honest:
- the owner owns the schema and runs migrations;
- the app role (web, worker, clock) owns nothing, is no superuser and cannot bypass RLS;
- the definer role (NOLOGIN, BYPASSRLS) owns the few SECURITY DEFINER functions that must
  read across tenants (resolving a token before the tenant is known, the clock's scans).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"

#: Arbitrary constant key of the advisory lock that serialises role creation across processes.
_ROLE_LOCK_KEY = 7_245_001


@dataclass(frozen=True)
class DatabaseRoles:
    owner: str = "n8nops_owner"
    app: str = "n8nops_app"
    definer: str = "n8nops_definer"


def _admin_engine(admin_url: str):
    return create_engine(admin_url, isolation_level="AUTOCOMMIT")


def ensure_roles(admin_url: str, roles: DatabaseRoles = DatabaseRoles()) -> None:
    """Create the three roles if missing (as a superuser); safe to run concurrently."""
    engine = _admin_engine(admin_url)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ROLE_LOCK_KEY})
        try:
            existing = set(conn.scalars(text("SELECT rolname FROM pg_roles")))
            wanted = {
                roles.owner: "LOGIN NOSUPERUSER NOBYPASSRLS",
                roles.app: "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
                roles.definer: "NOLOGIN NOSUPERUSER BYPASSRLS",
            }
            for name, options in wanted.items():
                if name not in existing:
                    conn.execute(text(f'CREATE ROLE "{name}" {options}'))
            # The owner hands function ownership to the definer in migrations.
            conn.execute(text(f'GRANT "{roles.definer}" TO "{roles.owner}"'))
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ROLE_LOCK_KEY})
    engine.dispose()


def create_database(admin_url: str, name: str, *, owner: str) -> None:
    engine = _admin_engine(admin_url)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
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
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def url_for(admin_url: str, *, database: str, user: str) -> str:
    """The admin URL pointed at another database as another (password-less, trusted) user."""
    url: URL = make_url(admin_url).set(database=database, username=user, password=None)
    return url.render_as_string(hide_password=False)


def alembic_config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
