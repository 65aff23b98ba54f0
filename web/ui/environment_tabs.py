"""An environment's tabs: workflows, executions (failures and the failing node), credentials
with their health, and its Git settings."""

from __future__ import annotations

from flask import render_template, request

from services import credentials, environments, executions, workflows
from services.git import settings as git_settings
from web.api.executions import ExecutionListArgs
from web.api.git import GitSettingsInputSchema
from web.auth import requires
from web.ui.base import PAGE_SIZE, done, form, listing, page_blueprint

bp = page_blueprint("ui_environment_tabs", __name__)


@bp.get("/environments/<uuid:env_id>/workflows")
@requires("workflows:read")
def workflow_list(env_id):
    """An environment's workflows."""
    name = request.args.get("name", "")[:200] or None
    query = workflows.list_query(env_id, name=name)
    return render_template(
        "workflows.html", env=environments.get(env_id), workflows=listing(query), name=name
    )


@bp.get("/environments/<uuid:env_id>/executions")
@requires("executions:read")
def execution_list(env_id):
    """An environment's executions, newest first."""
    status, cursor = request.args.get("status") or None, request.args.get("cursor") or None
    args = {"environment_id": str(env_id), "limit": PAGE_SIZE, "cursor": cursor}
    loaded = ExecutionListArgs().load({**args, "status": [status] if status else []})
    items, next_cursor = executions.list_page(
        loaded["filters"], cursor=loaded["cursor"], limit=loaded["limit"]
    )
    return render_template(
        "executions.html",
        env=environments.get(env_id),
        executions=items,
        next_cursor=next_cursor,
        status=status,
    )


@bp.get("/environments/<uuid:env_id>/credentials")
@requires("credentials:read")
def credential_list(env_id):
    """An environment's credentials and their health."""
    query = credentials.list_query(environment_id=env_id)
    return render_template(
        "credentials.html", env=environments.get(env_id), credentials=listing(query)
    )


@bp.get("/environments/<uuid:env_id>/git")
@requires("git:read")
def git(env_id):
    """An environment's Git settings."""
    return render_template(
        "git.html", env=environments.get(env_id), git=git_settings.get_settings(env_id)
    )


@bp.post("/environments/<uuid:env_id>/git")
@requires("git:write")
def git_save(env_id):
    """Save the Git settings (empty secret fields keep the stored ones)."""
    git_settings.update_settings(env_id, **form(GitSettingsInputSchema(), repository_url=None))
    return done("Git settings saved.", "ui_environment_tabs.git", env_id=env_id)


@bp.post("/environments/<uuid:env_id>/git/test")
@requires("git:test")
def git_test(env_id):
    """Test the Git connection now."""
    check = git_settings.run_check(env_id)
    return done(f"Git: {check.status}. {check.message}", "ui_environment_tabs.git", env_id=env_id)
