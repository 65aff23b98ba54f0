"""page/limit: bounded so the SQL offset cannot overflow; Link headers never from Host."""

from __future__ import annotations

import pytest

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
