"""Reads of tenant rows name the tenant explicitly (models/base.py), for the planner: RLS
hides other tenants either way, but only an explicit predicate shows the planner the tenant."""

from __future__ import annotations

from sqlalchemy import func, select

from models.db import db, tenant_scope
from models.environments import Environment
from models.jobs import BackgroundJob
from tests.statements import statements


def _names_tenant(statement: str, parameters: dict, table: str, tenant_id) -> bool:
    return f"{table}.tenant_id = %(" in statement and tenant_id in parameters.values()


def test_lists_aggregates_and_reads_by_key_name_the_tenant(app, tenant, environment):
    with tenant_scope(tenant.id), statements() as seen:
        db.scalars(select(BackgroundJob).order_by(BackgroundJob.created_at.desc()).limit(5)).all()
        db.execute(select(BackgroundJob.status, func.count()).group_by(BackgroundJob.status))
        db.expunge_all()
        assert db.get(Environment, environment.id).id == environment.id
        db.rollback()
    tables = ["background_jobs", "background_jobs", "environments"]
    assert len(seen) == 3
    for (statement, parameters), table in zip(seen, tables, strict=True):
        assert _names_tenant(statement, parameters, table, tenant.id), statement


def test_the_predicate_carries_each_tenant_of_the_moment(app, tenant, other_tenant):
    with statements() as seen:
        for current in (tenant, other_tenant):
            with tenant_scope(current.id):
                db.scalars(select(Environment)).all()
                db.rollback()
    assert [next(iter(p.values())) for _s, p in seen] == [tenant.id, other_tenant.id]


def test_without_a_tenant_nothing_is_added(app):
    with statements() as seen:
        db.scalars(select(Environment)).all()
        db.rollback()
    assert "tenant_id =" not in seen[0][0]


def test_a_statement_that_names_the_tenant_itself_is_left_as_built(app, tenant):
    from jobs import core
    from tests.jobs.helpers import start_job

    job_id = start_job(app, tenant.id)
    with tenant_scope(tenant.id), statements() as seen:
        job, reruns = core.get_with_reruns(job_id)
        assert (job.id, reruns) == (job_id, [])
        db.rollback()
    (statement, _parameters), *_ = seen
    # The job and its reruns' subquery, each once: no criteria added on top.
    assert statement.count(".tenant_id = %(tenant)s") == 2
    assert statement.count("tenant_id = %(tenant_") == 0
