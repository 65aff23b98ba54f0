"""Operator commands: `flask --app web <command>`."""

from __future__ import annotations

import functools

import click
from flask import Flask

from models.db import tenant_scope
from models.tenancy import ROLES
from services import tenants, tokens, users
from services.errors import DomainError


def _clear_errors(command):
    """Show a domain error as one line and a non-zero exit, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DomainError as error:
            raise click.ClickException(error.message) from error

    return wrapper


def register(app: Flask) -> None:
    app.cli.add_command(create_tenant)
    app.cli.add_command(create_user)
    app.cli.add_command(issue_token)


@click.command("create-tenant")
@click.option("--name", required=True)
@click.option("--slug", required=True, help="3-100 lowercase letters, digits and dashes")
@_clear_errors
def create_tenant(name: str, slug: str) -> None:
    """Create a tenant."""
    tenant = tenants.create_tenant(name=name, slug=slug)
    click.echo(f"tenant {tenant.slug} {tenant.id}")


@click.command("create-user")
@click.option("--tenant", "slug", required=True, help="The tenant's slug")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--name")
@click.option("--supabase-auth-id", help="The JWT subject that signs this user in")
@_clear_errors
def create_user(slug: str, email: str, role: str, name: str | None, supabase_auth_id) -> None:
    """Create a user with a role in a tenant."""
    with tenant_scope(tenants.tenant_id_for_slug(slug)):
        user = users.create_user(
            email=email, role=role, name=name, supabase_auth_id=supabase_auth_id
        )
    click.echo(f"user {user.email} {user.id} ({user.role})")


@click.command("issue-token")
@click.option("--tenant", "slug", required=True, help="The tenant's slug")
@click.option("--email", required=True, help="The user the token acts as")
@click.option("--name", default="cli", show_default=True)
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None)
@_clear_errors
def issue_token(slug: str, email: str, name: str, expires_in_days: int | None) -> None:
    """Issue a personal API token and print it (the only time it is shown)."""
    with tenant_scope(tenants.tenant_id_for_slug(slug)):
        user = users.get_user_by_email(email)
        _, secret = tokens.issue_token(user.id, name=name, expires_in_days=expires_in_days)
    click.echo(secret)
