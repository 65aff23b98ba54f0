"""The overview: environments with health and drift, open incidents, jobs running and failed."""

from __future__ import annotations

from flask import render_template

from models.jobs import ACTIVE_STATUSES
from services import environments
from services import jobs as job_service
from services.drift import incidents
from web.auth import requires
from web.ui.base import listing, page_blueprint

bp = page_blueprint("ui_overview", __name__)

#: Rows of each panel.
PANEL_ROWS = 10


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
    )
