"""Pages: a next link from one row past the page (no count needed), a count capped at
COUNT_CAP, and no count at all when the first page holds everything."""

from __future__ import annotations

import pytest

from tests.jobs.helpers import start_job
from web import pagination


@pytest.fixture
def seven_jobs(app, tenant):
    return [start_job(app, tenant.id) for _ in range(7)]


def _page(client, tenant, **args):
    query = "&".join(f"{key}={value}" for key, value in args.items())
    return client.get(f"/api/v1/jobs?{query}", headers=tenant.viewer)


def test_pages_link_forward_while_rows_remain(client, tenant, seven_jobs):
    first, last = _page(client, tenant, limit=3), _page(client, tenant, limit=3, page=3)
    assert [len(first.json), len(last.json)] == [3, 1]
    assert 'rel="next"' in first.headers["Link"] and 'rel="prev"' not in first.headers["Link"]
    assert 'rel="next"' not in last.headers["Link"] and 'rel="prev"' in last.headers["Link"]
    assert first.headers["X-Total-Count"] == last.headers["X-Total-Count"] == "7"
    assert "X-Total-Count-Capped" not in first.headers


def test_a_page_exactly_full_has_no_next_link(client, tenant, seven_jobs):
    page = _page(client, tenant, limit=7)
    assert len(page.json) == 7 and "Link" not in page.headers
    assert page.headers["X-Total-Count"] == "7"


def test_the_count_stops_at_the_cap_and_says_so(client, tenant, seven_jobs, monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    page = _page(client, tenant, limit=2, page=2)
    assert page.headers["X-Total-Count"] == "5"
    assert page.headers["X-Total-Count-Capped"] == "true"
    assert 'rel="next"' in page.headers["Link"]
