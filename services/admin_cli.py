"""`n8n-ops-admin`: one-time operator commands that need neither the app nor its database role.

n8n-ops-admin setup-database --admin-url postgres://admin:...@host/postgres --database n8nops
n8n-ops-admin generate-key --id 2026-12
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click

from services import dbadmin
from services.secrets import new_key_entry

#: Environment variables that hold the login roles' passwords for setup-database.
PASSWORD_VARIABLES = {"owner": "OWNER_DB_PASSWORD", "app": "APP_DB_PASSWORD"}


@click.group()
def main() -> None:
    """n8n-ops operator commands (see README, Deploy)."""


@main.command("setup-database")
@click.option(
    "--admin-url",
    envvar="ADMIN_DATABASE_URL",
    required=True,
    help="An installer role with CREATEDB and CREATEROLE (postgres:// accepted); "
    "env ADMIN_DATABASE_URL",
)
@click.option("--database", default="n8nops", show_default=True)
@click.option("--owner-role", default=dbadmin.DatabaseRoles.owner, show_default=True)
@click.option("--app-role", envvar="APP_DB_ROLE", default=dbadmin.DatabaseRoles.app)
@click.option("--definer-role", envvar="DEFINER_DB_ROLE", default=dbadmin.DatabaseRoles.definer)
def setup_database(
    admin_url: str, database: str, owner_role: str, app_role: str, definer_role: str
) -> None:
    """Create the roles and the database, idempotently; print the connection URLs.

    Passwords come from OWNER_DB_PASSWORD / APP_DB_PASSWORD (set again on every run), else a
    role created now gets a generated one, printed once: keep it in your secret store.
    """
    roles = dbadmin.DatabaseRoles(owner=owner_role, app=app_role, definer=definer_role)
    passwords = {
        getattr(roles, kind): os.environ.get(variable) or None
        for kind, variable in PASSWORD_VARIABLES.items()
    }
    try:
        report = dbadmin.setup_database(admin_url, database, roles=roles, passwords=passwords)
    except dbadmin.SetupRefused as refused:
        raise click.ClickException(str(refused)) from None
    for name in report.created_roles:
        click.echo(f"created role {name}")
    click.echo(
        f"{'created' if report.created_database else 'kept'} database {database}"
        f" (owner {roles.owner})"
    )
    for variable, role in (("MIGRATION_DATABASE_URL", roles.owner), ("DATABASE_URL", roles.app)):
        password = report.passwords.get(role)
        url = dbadmin.url_for(admin_url, database=database, user=role, password=password)
        shown = url if password else f"{url}  (password unchanged)"
        click.echo(f"{variable}={shown}")
    if any(role in report.passwords for role in roles.login_roles()):
        click.echo("Passwords are shown only now. Next: alembic upgrade head as the owner.")


@main.command("generate-key")
@click.option("--id", "kid", help="Key id, kept with every secret it encrypts (default: today)")
def generate_key(kid: str | None) -> None:
    """Print a new ENCRYPTION_KEYS entry (key-id:fernet-key); it is not stored anywhere."""
    kid = kid or datetime.now(UTC).strftime("%Y%m%d")
    if ":" in kid or "," in kid:
        raise click.BadParameter("a key id cannot contain ':' or ','", param_hint="--id")
    click.echo(new_key_entry(kid))


if __name__ == "__main__":
    main()
