"""The overview: environments with health and drift, open incidents, jobs running and failed,
and the deployments scheduled next."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from models.db import db
from models.environments import Environment
from models.jobs import ACTIVE_STATUSES
from models.promotions import Deployment, Promotion
from services import environments
from services import jobs as job_service
from services.drift import incidents
from services.promotions import deployments
from web.auth import requires
from web.ui.base import listing, page_blueprint

bp = page_blueprint("ui_overview", __name__)

#: Rows of each panel.
PANEL_ROWS = 10


def _scheduled() -> dict:
    """The next scheduled deployments, soonest first, with their target's name."""
    query = deployments.list_query(status="scheduled").order_by(None)
    panel = listing(query.order_by(Deployment.scheduled_for, Deployment.id), limit=PANEL_ROWS)
    promotion_ids = {row.promotion_id for row in panel["rows"]}
    targets = db.execute(
        select(Promotion.id, Environment.name)
        .join(Environment, Environment.id == Promotion.target_environment_id)
        .where(Promotion.id.in_(promotion_ids))
    )
    return {**panel, "targets": dict(targets.all())}


@bp.get("/")
@requires("environments:read")
def overview():
    """Overview."""
    return render_template(
        "overview.html",
        environments=listing(environments.list_query()),
        active=listing(
            job_service.list_query(job_service.JobFilters(statuses=ACTIVE_STATUSES)),
            limit=PANEL_ROWS,
        ),
        failed=listing(
            job_service.list_query(job_service.JobFilters(statuses=("failed",))), limit=PANEL_ROWS
        ),
        incidents=listing(
            incidents.list_query(incidents.IncidentFilters(active=True)), limit=PANEL_ROWS
        ),
        scheduled=_scheduled(),
    )
