"""Operator commands for canonical workflows: `flask --app web canonical <command>`. Each acts
as a user of the tenant (``--as``), with that user's role, like the API would."""

from __future__ import annotations

import click

from models.db import tenant_scope
from services import canonical_jobs, tenants, users, workflow_matrix
from services.identity import Principal
from web.auth import PERMISSIONS
from web.cli import _clear_errors

_tenant = click.option("--tenant", "slug", required=True, help="The tenant's slug")
_as = click.option("--as", "email", required=True, help="The user acting (recorded as author)")
_environment = click.option("--environment", "env_id", type=click.UUID, required=True)


@click.group("canonical")
def canonical_group() -> None:
    """Onboard, sync from Git, back up, restore, and show the workflow matrix."""


def _principal(tenant_id, email: str, permission: str) -> Principal:
    """The acting user, refused when the API would refuse them this permission."""
    user = users.get_user_by_email(email)
    minimum = PERMISSIONS[permission]
    principal = Principal(user.id, tenant_id, user.role)
    if not principal.has_role(minimum):
        raise click.ClickException(f"{email} is a {user.role}; this takes the {minimum} role.")
    return principal


def _started(job, decision=None) -> None:
    click.echo(f"{job.id}  {job.job_type}  {job.status}")
    for warning in decision.warnings if decision else ():
        click.echo(f"warning: {warning}")


@canonical_group.command("matrix")
@_tenant
@click.option("--state", "states", multiple=True, type=click.Choice(workflow_matrix.STATES))
@click.option("--page", default=1, type=click.IntRange(min=1))
@click.option("--limit", default=50, type=click.IntRange(1, 200))
@_clear_errors
def matrix(slug: str, states: tuple[str, ...], page: int, limit: int) -> None:
    """One page of the matrix: a line per canonical workflow, a state per environment."""
    with tenant_scope(tenants.tenant_id_for_slug(slug)):
        found = workflow_matrix.matrix(states=states, page=page, limit=limit)
    envs = found["environments"]
    click.echo("slug\t" + "\t".join(e["name"] for e in envs))
    for row in found["rows"]:
        cells = [row["cells"].get(str(e["id"]), {}).get("state", "-") for e in envs]
        click.echo(row["slug"] + "\t" + "\t".join(cells))
    if found["has_more"]:
        click.echo(f"(more: --page {page + 1})")


@canonical_group.command("onboard")
@_tenant
@_as
@click.option("--anchor", "anchor_id", type=click.UUID, required=True)
@_clear_errors
def onboard(slug: str, email: str, anchor_id) -> None:
    """Start onboarding from an anchor environment (its report is the job's result)."""
    tenant_id = tenants.tenant_id_for_slug(slug)
    with tenant_scope(tenant_id):
        _started(
            canonical_jobs.start_onboarding(
                anchor_id, principal=_principal(tenant_id, email, "canonical:onboard")
            )
        )


@canonical_group.command("repo-sync")
@_tenant
@_as
@click.option("--environment", "env_id", type=click.UUID, default=None, help="Default: all")
@_clear_errors
def repo_sync(slug: str, email: str, env_id) -> None:
    """Start a repo sync (Git to database)."""
    tenant_id = tenants.tenant_id_for_slug(slug)
    with tenant_scope(tenant_id):
        principal = _principal(tenant_id, email, "canonical:sync")
        _started(canonical_jobs.start_repo_sync(principal=principal, env_id=env_id))


@canonical_group.command("backup")
@_tenant
@_as
@_environment
@_clear_errors
def backup(slug: str, email: str, env_id) -> None:
    """Start a backup of every workflow of an environment."""
    tenant_id = tenants.tenant_id_for_slug(slug)
    with tenant_scope(tenant_id):
        job, decision = canonical_jobs.start_backup(
            env_id, principal=_principal(tenant_id, email, "snapshots:backup")
        )
    _started(job, decision)


@canonical_group.command("restore")
@_tenant
@_as
@_environment
@click.option("--snapshot", "snapshot_id", type=click.UUID, default=None)
@click.option("--commit", default=None)
@_clear_errors
def restore(slug: str, email: str, env_id, snapshot_id, commit: str | None) -> None:
    """Start a restore of an environment from a snapshot or a commit."""
    tenant_id = tenants.tenant_id_for_slug(slug)
    with tenant_scope(tenant_id):
        job, decision = canonical_jobs.start_restore(
            env_id,
            principal=_principal(tenant_id, email, "snapshots:restore"),
            snapshot_id=snapshot_id,
            commit=commit,
        )
    _started(job, decision)
