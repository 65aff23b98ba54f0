"""Canonical workflows: the matrix (canonical x environment) and a workflow's page with its
history from Git and a side-by-side diff between any two versions."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from flask import render_template, request

from services import canonical_diff, canonicals, restore, workflow_matrix
from services.errors import DomainError
from web.api.canonical import DiffArgs, HistoryArgs, MatrixArgs
from web.auth import requires
from web.ui import diff_view
from web.ui.base import PAGE_SIZE, page_blueprint

bp = page_blueprint("ui_canonical", __name__)

#: Commits of a workflow's history shown on its page.
HISTORY_COMMITS = 30


@bp.get("/workflows")
@requires("canonical:read")
def matrix():
    """The workflow matrix."""
    args = MatrixArgs().load(
        {
            "state": [s for s in request.args.getlist("state") if s],
            "environment_id": [e for e in request.args.getlist("environment_id") if e] or None,
            "name": request.args.get("name") or None,
            "page": request.args.get("page") or 1,
            "limit": PAGE_SIZE,
        }
    )
    page = workflow_matrix.matrix(
        states=tuple(args["state"]),
        environment_ids=args["environment_id"],
        name=args["name"],
        page=args["page"],
        limit=args["limit"],
    )
    return render_template(
        "matrix.html",
        matrix=page,
        all_environments=workflow_matrix.environments(),
        args=args,
        states=workflow_matrix.STATES,
        page_url=_page_url,
    )


@bp.get("/workflows/<uuid:canonical_id>")
@requires("canonical:read")
def detail(canonical_id):
    """A canonical workflow: where it runs, its history in one environment, a diff."""
    canonical = canonicals.get(canonical_id)
    row = workflow_matrix.row_of(canonical.id)
    env_id = _chosen_environment(row)
    history, history_error = [], None
    if env_id is not None:
        try:
            loaded = HistoryArgs().load({"environment_id": str(env_id), "limit": HISTORY_COMMITS})
            history = restore.history(canonical.id, env_id, limit=loaded["limit"])
        except DomainError as error:
            history_error = error.message
    diff, diff_error, status = None, None, 200
    if request.args.get("left") and request.args.get("right"):
        try:
            sides = DiffArgs().load({k: request.args[k] for k in ("left", "right")})
            diff = diff_view.present(canonical_diff.diff(canonical.id, **sides))
        except DomainError as error:
            diff_error, status = error.message, error.status
    return render_template(
        "canonical.html",
        canonical=canonical,
        row=row,
        env_names={str(e["id"]): e["name"] for e in row["environments"]},
        env_id=str(env_id) if env_id else None,
        history=history,
        history_error=history_error,
        diff=diff,
        diff_error=diff_error,
        left=request.args.get("left", ""),
        right=request.args.get("right", ""),
    ), status


def _page_url(page: int) -> str:
    """This page's address with its filters, at ``page``."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    return "?" + urlencode([*args, ("page", page)])


def _chosen_environment(row: dict) -> uuid.UUID | None:
    """The environment asked for (one of the tenant's), else the first one the workflow is
    in, else the first one."""
    ids = [e["id"] for e in row["environments"]]
    asked = request.args.get("environment_id", "")
    if asked in {str(i) for i in ids}:
        return uuid.UUID(asked)
    present = [i for i in ids if row["cells"].get(str(i), {}).get("state") != "absent"]
    return (present or ids or [None])[0]
