"""Deployments: the list with filters, one deployment's page (each workflow's outcome, the
snapshots before and after, the credential rewrites, live progress) and cancelling one
before it starts."""

from __future__ import annotations

from flask import render_template, request

from models.promotions import DEPLOYMENT_STATUSES
from services.promotions import deployments, lifecycle
from web.api.deployments import DeploymentListArgs
from web.auth import requires
from web.ui.base import done, listing, page_blueprint
from web.ui.pipelines import environment_names
from web.ui.promotions import follow

bp = page_blueprint("ui_deployments", __name__)

FILTERS = ("status", "promotion_id")


@bp.get("/deployments")
@requires("deployments:read")
def deployment_list():
    """Deployments."""
    args = {k: v for k, v in request.args.items() if v and k in FILTERS}
    filters = {k: v for k, v in DeploymentListArgs().load(args).items() if k in FILTERS}
    return render_template(
        "deployments.html",
        deployments=listing(deployments.list_query(**filters)),
        args=args,
        statuses=DEPLOYMENT_STATUSES,
    )


@bp.get("/deployments/<uuid:deployment_id>")
@requires("deployments:read")
def detail(deployment_id):
    """One deployment."""
    found = deployments.detail(deployment_id)
    promotion = lifecycle.get(found["deployment"].promotion_id)
    return render_template(
        "deployment.html",
        deployment=found["deployment"],
        workflows=found["workflows"],
        promotion=promotion,
        jobs=follow(found["deployment"]),
        names=environment_names(),
    )


@bp.post("/deployments/<uuid:deployment_id>/cancel")
@requires("deployments:manage")
def cancel(deployment_id):
    """Cancel a deployment before it starts."""
    deployments.cancel(deployment_id)
    return done("Deployment cancelled.", "ui_deployments.detail", deployment_id=deployment_id)


@bp.post("/deployments/<uuid:deployment_id>/delete")
@requires("deployments:manage")
def delete(deployment_id):
    """Delete a finished deployment (soft: the record stays for the audit trail)."""
    deployments.delete(deployment_id)
    return done("Deployment deleted.", "ui_deployments.deployment_list")
