"""services/jobs: a filtered list's total reads only the half its statuses need (finished jobs
from job_counts, active ones from the jobs), and still equals a count of the jobs."""

from __future__ import annotations

import pytest

from jobs import core
from models.db import db, reset_context, tenant_scope
from services import jobs as job_service
from services.jobs import JobFilters
from tests.jobs.helpers import start_job
from tests.statements import statements


def _cancel(app, tenant_id, job_id) -> None:
    with app.app_context(), tenant_scope(tenant_id):
        core.cancel(job_id)
        db.commit()
        reset_context()


@pytest.mark.parametrize(
    ("statuses", "job_type", "total", "reads"),
    [
        # Finished only: job_counts alone. A half filtered to nothing (status IN () beside
        # the tenant policy) was still planned as a scan of the tenant's every job, and
        # launched parallel workers at 100,000 jobs a tenant.
        (("cancelled",), None, 1, {"job_counts"}),
        (("failed",), None, 0, {"job_counts"}),
        (("cancelled",), "noop", 1, {"job_counts"}),
        # Active only: the jobs alone.
        (("pending",), None, 3, {"background_jobs"}),
        (("pending", "running"), "healthcheck", 1, {"background_jobs"}),
        # Both, or no status filter: both halves.
        (("pending", "cancelled"), None, 4, {"job_counts", "background_jobs"}),
        ((), None, 4, {"job_counts", "background_jobs"}),
        ((), "noop", 3, {"job_counts", "background_jobs"}),
    ],
)
def test_a_total_reads_only_the_half_its_statuses_need(
    app, tenant, statuses, job_type, total, reads
):
    start_job(app, tenant.id)
    start_job(app, tenant.id)
    start_job(app, tenant.id, "healthcheck")
    _cancel(app, tenant.id, start_job(app, tenant.id))
    with app.app_context(), tenant_scope(tenant.id), statements() as seen:
        counted = job_service.count(JobFilters(statuses=statuses, job_type=job_type))
        db.rollback()
    reset_context()
    assert counted == total
    ((statement, _),) = seen
    read = {table for table in ("job_counts", "background_jobs") if f"FROM {table}" in statement}
    assert read == reads, statement
    assert "UNION ALL" in statement if len(reads) == 2 else "UNION" not in statement


def test_stats_still_count_both_halves(app, tenant):
    start_job(app, tenant.id)
    _cancel(app, tenant.id, start_job(app, tenant.id))
    with app.app_context(), tenant_scope(tenant.id):
        stats = job_service.stats()
        db.rollback()
    reset_context()
    assert stats["by_status"] == {"pending": 1, "cancelled": 1}
