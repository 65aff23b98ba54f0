"""Jobs: the list with filters and live progress, one job's page, cancel and rerun."""

from __future__ import annotations

from flask import render_template, request

from jobs import core
from models.jobs import JOB_STATUSES, JOB_TYPES, TERMINAL_STATUSES
from services import jobs as job_service
from web.api.jobs import JobFilterArgs
from web.api.live import event_stream
from web.auth import current_principal, requires
from web.ui.base import done, listing, page_blueprint

bp = page_blueprint("ui_jobs", __name__)


def _filter_args() -> dict:
    args = {key: value for key, value in request.args.items() if value and key != "page"}
    if statuses := [s for s in request.args.getlist("status") if s]:
        args["status"] = statuses
    return args


@bp.get("/jobs")
@requires("jobs:read")
def job_list():
    """Jobs."""
    args = _filter_args()
    filters = JobFilterArgs().load(args)["filters"]
    return render_template(
        "jobs.html",
        jobs=listing(job_service.list_query(filters)),
        args=args,
        statuses=JOB_STATUSES,
        job_types=JOB_TYPES,
    )


@bp.get("/jobs/<uuid:job_id>")
@requires("jobs:read")
def job_detail(job_id):
    """One job."""
    job, reruns = core.get_with_reruns(job_id)
    return render_template("job.html", job=job, reruns=reruns, terminal=TERMINAL_STATUSES)


@bp.post("/jobs/<uuid:job_id>/cancel")
@requires("jobs:cancel")
def cancel(job_id):
    """Cancel a job."""
    core.cancel(job_id)
    return done("Cancellation requested.", "ui_jobs.job_detail", job_id=job_id)


@bp.post("/jobs/<uuid:job_id>/rerun")
@requires("jobs:rerun")
def rerun(job_id):
    """Run a finished job again."""
    new = core.rerun(job_id, user_id=current_principal().user_id)
    return done("Started again as a new job.", "ui_jobs.job_detail", job_id=new.id)


@bp.get("/stream")
@requires("events:read")
def stream():
    """The tenant's live updates, for the pages (the API's stream, with the session)."""
    return event_stream()


@bp.get("/jobs/<uuid:job_id>/stream")
@requires("jobs:read")
def job_stream(job_id):
    """One job's live updates."""
    core.get(job_id)
    return event_stream(job_id)
