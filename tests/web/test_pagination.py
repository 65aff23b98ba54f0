"""page/limit: bounded so the SQL offset cannot overflow; Link headers never from Host; a next
link from one row past the page (no count needed), a count capped at COUNT_CAP, and no count
at all when the first page holds everything."""

from __future__ import annotations

import pytest

from tests.jobs.helpers import start_job
from web import pagination
from web.pagination import MAX_OFFSET


@pytest.mark.parametrize(
    "query",
    [
        {"page": 10**30},
        {"page": 2**63},
        {"page": MAX_OFFSET // 200 + 1},
        {"page": MAX_OFFSET // 10 + 1, "limit": 10},
    ],
)
def test_a_page_beyond_reach_is_a_422(client, tenant, query):
    response = client.get("/api/v1/users", query_string=query, headers=tenant.viewer)
    assert response.status_code == 422
    assert "page" in response.json["details"]["fields"]["query"]


def test_the_deepest_page_allowed_answers(client, tenant):
    query = {"page": MAX_OFFSET // 200, "limit": 200}
    response = client.get("/api/v1/users", query_string=query, headers=tenant.viewer)
    assert response.status_code == 200 and response.json == []


def test_links_are_relative_whatever_the_host_header(client, tenant):
    response = client.get(
        "/api/v1/users?limit=1&page=1",
        headers={**tenant.viewer, "Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.headers["Link"] == '</api/v1/users?limit=1&page=2>; rel="next"'


def test_links_are_built_from_the_public_url(make_app, tenant):
    app = make_app(public_url="https://ops.example.com/")
    response = app.test_client().get(
        "/api/v1/users?limit=1&page=2", headers={**tenant.admin, "Host": "evil.example"}
    )
    links = response.headers["Link"]
    assert '<https://ops.example.com/api/v1/users?limit=1&page=1>; rel="prev"' in links
    assert '<https://ops.example.com/api/v1/users?limit=1&page=3>; rel="next"' in links


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
