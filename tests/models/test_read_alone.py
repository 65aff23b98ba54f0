"""A read that stands alone (models.db.read_alone) runs as the tenant in a transaction of its
own, leaves no tenant on its pooled connection, and joins the session's transaction when one
is open."""

from __future__ import annotations

from sqlalchemy import select, text

from models.db import db, get_engine, read_alone, tenant_scope
from models.environments import Environment

SEEN = text("SELECT current_setting('app.tenant_id', true) AS tenant")


def test_it_runs_as_the_tenant_in_a_transaction_of_its_own(app, tenant):
    with tenant_scope(tenant.id):
        (row,) = read_alone(SEEN, {})
    assert row["tenant"] == str(tenant.id)
    # The session opened nothing (tests/web/test_round_trips.py counts what went on the wire).
    assert not db.registry.has() or not db().in_transaction()


def test_row_level_security_shows_only_the_tenants_rows(app, tenant, other_tenant, environment):
    ids = select(Environment.__table__.c.id)
    with tenant_scope(tenant.id):
        assert [row["id"] for row in read_alone(ids, {})] == [environment.id]
    with tenant_scope(other_tenant.id):
        assert read_alone(ids, {}) == []


def test_the_setting_ends_with_its_transaction(app, tenant):
    engine = get_engine()
    engine.dispose()  # one pooled connection: the next checkout gets the same one
    with tenant_scope(tenant.id):
        read_alone(SEEN, {})
    with engine.connect() as conn:
        assert conn.execute(SEEN).one().tenant in (None, "")


def test_with_a_transaction_open_it_reads_in_that_transaction(app, tenant):
    with tenant_scope(tenant.id):
        db.execute(text("SELECT 1"))
        opened = db.execute(text("SELECT now()")).scalar()
        rows = read_alone(text("SELECT now() AS began"), {})
        db.rollback()
    assert rows[0]["began"] == opened
