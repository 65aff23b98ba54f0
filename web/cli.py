"""Operator commands: `flask --app web <command>`."""

from __future__ import annotations

import functools

import click
from flask import Flask

from jobs import core
from models.db import db, tenant_scope
from models.jobs import JOB_STATUSES
from models.tenancy import ROLES
from services import jobs, secret_rotation, tenants, tokens, users
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
    app.cli.add_command(jobs_group)
    app.cli.add_command(rotate_secrets)
    # Imported here: its commands reuse this module's helpers.
    from web.cli_canonical import canonical_group

    app.cli.add_command(canonical_group)


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
@_clear_errors
def create_user(slug: str, email: str, role: str, name: str | None) -> None:
    """Invite a user with a role into a tenant; prints the invitation token to pass on."""
    with tenant_scope(tenants.tenant_id_for_slug(slug)):
        user = users.create_user(email=email, role=role, name=name)
    click.echo(f"user {user.email} {user.id} ({user.role})")
    click.echo(f"invitation {user.invitation.token} (expires {user.invitation.expires_at:%c})")


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


@click.group("jobs")
def jobs_group() -> None:
    """List, cancel and rerun a tenant's jobs."""


_tenant_option = click.option("--tenant", "slug", required=True, help="The tenant's slug")


@jobs_group.command("list")
@_tenant_option
@click.option("--status", "statuses", multiple=True, type=click.Choice(JOB_STATUSES))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@_clear_errors
def jobs_list(slug: str, statuses: tuple[str, ...], limit: int) -> None:
    """Newest jobs first: id, kind, status, progress, error."""
    with tenant_scope(tenants.tenant_id_for_slug(slug)):
        query = jobs.list_query(jobs.JobFilters(statuses=statuses)).limit(limit)
        for job in db.scalars(query):
            progress = job.progress.get("percentage", 0)
            error = f"  {job.error_message}" if job.error_message else ""
            click.echo(f"{job.id}  {job.job_type:<20} {job.status:<9} {progress:>3}%{error}")


@jobs_group.command("cancel")
@_tenant_option
@click.argument("job_id", type=click.UUID)
@_clear_errors
def jobs_cancel(slug: str, job_id) -> None:
    """Cancel a job (a running one stops at its next checkpoint)."""
    with tenant_scope(tenants.tenant_id_for_slug(slug)):
        job = core.cancel(job_id)
    click.echo(
        f"{job.id} {job.status}" + (" (cancel requested)" if job.status == "running" else "")
    )


@jobs_group.command("rerun")
@_tenant_option
@click.argument("job_id", type=click.UUID)
@_clear_errors
def jobs_rerun(slug: str, job_id) -> None:
    """Start a new job like a finished one; prints the new job's id."""
    with tenant_scope(tenants.tenant_id_for_slug(slug)):
        click.echo(core.rerun(job_id, user_id=None).id)


@jobs_group.command("queues")
@_clear_errors
def jobs_queues() -> None:
    """Messages waiting in each broker queue, all tenants together (operators only)."""
    for queue, depth in jobs.queue_depths().items():
        click.echo(f"{queue:<20} ready {depth['ready']:>6}  delayed {depth['delayed']:>6}")


@click.command("rotate-secrets")
@click.option(
    "--apply", is_flag=True, help="Re-encrypt (without it: a dry run that changes nothing)"
)
@_clear_errors
def rotate_secrets(apply: bool) -> None:
    """Re-encrypt stored secrets under the newest ENCRYPTION_KEYS entry (dry run by default).

    Refuses to apply while a running process does not hold the newest key yet.
    """
    plan = secret_rotation.plan()
    click.echo(f"newest key: {plan.newest}")
    for process in plan.processes:
        ready = "ready" if plan.newest in process.key_ids else "NOT READY"
        click.echo(f"  {process.name}: keys {', '.join(process.key_ids)}  {ready}")
    if not plan.processes:
        click.echo("  no running process reports its keys (none is running?)")
    click.echo(f"{plan.pending} secrets are not under {plan.newest}")
    if not apply:
        click.echo("dry run: nothing changed (add --apply to re-encrypt)")
        return
    click.echo(f"{secret_rotation.rotate_all()} secrets re-encrypted")
