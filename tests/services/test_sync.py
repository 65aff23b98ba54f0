"""Workflow sync against the fake n8n: pages, idempotence, renames, deletions, failures."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from models.db import db, tenant_scope
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import sync, workflows
from services.n8n import N8nClient, N8nServerError, N8nUnauthorized, N8nUnreachable
from services.workflow_digest import semantic_digest


def _sync(factory, tenant, environment, **kwargs):
    return factory.run_as(tenant.id, sync.sync_workflows, environment.id, **kwargs)


def _rows(app, tenant, environment) -> dict[str, WorkflowEnvMap]:
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.scalars(
            select(WorkflowEnvMap).where(WorkflowEnvMap.environment_id == environment.id)
        ).all()
        db.expunge_all()
    return {row.n8n_workflow_id: row for row in rows}


def _versions(app, tenant, environment) -> dict[str, str]:
    """Each row's xmin: it changes whenever PostgreSQL writes the row."""
    with app.app_context(), tenant_scope(tenant.id):
        rows = db.execute(
            text(
                "SELECT n8n_workflow_id, xmin::text FROM workflow_env_map WHERE environment_id = :e"
            ),
            {"e": environment.id},
        ).all()
    return dict(rows)


def _n8n(fake) -> N8nClient:
    return N8nClient(fake.url, fake.api_key, allow_private=True)


def test_sync_of_1100_workflows_over_many_pages(app, factory, tenant, environment, fake_n8n):
    ids = fake_n8n.add_workflows(1100)
    seen = []
    summary = _sync(factory, tenant, environment, progress=lambda **kw: seen.append(kw))
    assert summary == {"workflows": 1100, "written": 1100, "unchanged": 0, "missing": 0}
    rows = _rows(app, tenant, environment)
    assert set(rows) == set(ids)
    listing = fake_n8n.requests_to(r"/workflows$", method="GET")
    assert len(listing) == 5
    assert {r.query["limit"] for r in listing} == {"250"}
    assert [kw["current"] for kw in seen] == [250, 500, 750, 1000, 1100]
    sample = rows[ids[0]]
    assert sample.status == "untracked"
    assert sample.workflow_data["name"] == "Workflow 00000"
    assert sample.env_content_hash == semantic_digest(fake_n8n.workflow(ids[0]))
    with app.app_context(), tenant_scope(tenant.id):
        assert db.get(Environment, environment.id).last_sync_at is not None


def test_resync_without_changes_writes_nothing(app, factory, tenant, environment, fake_n8n):
    fake_n8n.add_workflows(300)
    _sync(factory, tenant, environment)
    before = _versions(app, tenant, environment)
    summary = _sync(factory, tenant, environment)
    assert summary["written"] == 0 and summary["unchanged"] == 300
    assert _versions(app, tenant, environment) == before


def test_a_rename_is_picked_up(app, factory, tenant, environment, fake_n8n):
    [first, second] = fake_n8n.add_workflows(2)
    _sync(factory, tenant, environment)
    before = _rows(app, tenant, environment)
    body = fake_n8n.workflow(first)
    with _n8n(fake_n8n) as n8n:
        n8n.update_workflow(first, {**body, "name": "Renamed"})
    summary = _sync(factory, tenant, environment)
    assert summary["written"] == 1
    after = _rows(app, tenant, environment)
    assert after[first].workflow_name == "Renamed"
    assert after[first].env_content_hash != before[first].env_content_hash
    assert after[second].updated_at == before[second].updated_at


def test_active_flag_and_tags_are_kept(app, factory, tenant, environment, fake_n8n):
    wf = fake_n8n.add_workflow(name="Tagged", active=True, tags=["billing", "prod"])
    _sync(factory, tenant, environment)
    row = _rows(app, tenant, environment)[wf["id"]]
    assert row.is_active is True
    assert sorted(row.tags) == ["billing", "prod"]


def test_a_deleted_workflow_becomes_missing_after_a_direct_read(
    app, factory, tenant, environment, fake_n8n
):
    [kept, gone] = fake_n8n.add_workflows(2)
    _sync(factory, tenant, environment)
    with _n8n(fake_n8n) as n8n:
        n8n.delete_workflow(gone)
    fake_n8n.clear_requests()
    summary = _sync(factory, tenant, environment)
    assert summary["missing"] == 1
    rows = _rows(app, tenant, environment)
    assert rows[gone].status == "missing" and rows[gone].missing_since is not None
    assert rows[kept].status == "untracked"
    # Absence from the listing was confirmed by reading the workflow itself.
    assert len(fake_n8n.requests_to(rf"/workflows/{gone}$", method="GET")) == 1


def test_a_half_failed_listing_marks_nothing_missing(app, factory, tenant, environment, fake_n8n):
    fake_n8n.add_workflows(600)
    _sync(factory, tenant, environment)
    fake_n8n.truncate_workflow_listing(1)
    with pytest.raises(N8nServerError):
        _sync(factory, tenant, environment)
    rows = _rows(app, tenant, environment)
    assert len(rows) == 600
    assert {row.status for row in rows.values()} == {"untracked"}
    with app.app_context(), tenant_scope(tenant.id):
        env = db.get(Environment, environment.id)
        assert env.connection_status == "error"
        assert "500" in env.connection_error


def test_ignored_stays_ignored_across_syncs_and_deletion(
    app, factory, tenant, environment, fake_n8n
):
    [wf] = fake_n8n.add_workflows(1)
    _sync(factory, tenant, environment)
    row = _rows(app, tenant, environment)[wf]
    factory.run_as(tenant.id, workflows.set_ignored, environment.id, row.id, ignored=True)
    with _n8n(fake_n8n) as n8n:
        n8n.update_workflow(wf, {**fake_n8n.workflow(wf), "name": "Changed"})
    _sync(factory, tenant, environment)
    assert _rows(app, tenant, environment)[wf].status == "ignored"
    with _n8n(fake_n8n) as n8n:
        n8n.delete_workflow(wf)
    _sync(factory, tenant, environment)
    assert _rows(app, tenant, environment)[wf].status == "ignored"


def test_a_missing_workflow_that_comes_back_is_present_again(
    app, factory, tenant, environment, fake_n8n
):
    body = fake_n8n.add_workflow(name="Flaky")
    _sync(factory, tenant, environment)
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(
            text(
                "UPDATE workflow_env_map SET status = 'missing', missing_since = now()"
                " WHERE n8n_workflow_id = :w"
            ),
            {"w": body["id"]},
        )
        db.commit()
    _sync(factory, tenant, environment)
    row = _rows(app, tenant, environment)[body["id"]]
    assert (row.status, row.missing_since) == ("untracked", None)


def test_a_bad_key_fails_clearly_and_updates_health(app, factory, tenant, environment, fake_n8n):
    fake_n8n.add_workflows(3)
    fake_n8n.api_key = "rotated-on-the-n8n-side"
    with pytest.raises(N8nUnauthorized):
        _sync(factory, tenant, environment)
    assert _rows(app, tenant, environment) == {}
    with app.app_context(), tenant_scope(tenant.id):
        env = db.get(Environment, environment.id)
        assert env.connection_status == "unauthorized"
        assert env.consecutive_failures == 1


def test_unreachable_instance_fails_clearly(app, factory, tenant, environment, fake_n8n):
    fake_n8n.go_down()
    with pytest.raises(N8nUnreachable, match="Connection refused"):
        _sync(factory, tenant, environment)
    with app.app_context(), tenant_scope(tenant.id):
        assert db.get(Environment, environment.id).connection_status == "unreachable"


@pytest.fixture
def small_cache(monkeypatch):
    monkeypatch.setattr(sync, "MAX_CACHED_BYTES", 200)


@pytest.mark.usefixtures("small_cache")
def test_an_oversized_definition_is_not_cached(app, factory, tenant, environment, fake_n8n):
    [wf] = fake_n8n.add_workflows(1)
    _sync(factory, tenant, environment)
    row = _rows(app, tenant, environment)[wf]
    assert row.workflow_data is None
    assert row.workflow_data_bytes > 200
    assert row.env_content_hash is not None
