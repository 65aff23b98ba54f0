"""The credentials API: list with health and filters, one credential with its users, isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services import credential_health, credentials
from tests.fake_n8n import FakeN8n
from tests.services.test_credentials import add_execution, add_workflow, node, sync_workflows


@pytest.fixture
def checked(app, factory, tenant, environment, fake_n8n):
    """An environment with three credentials: Slack refused on its latest run, GitHub
    healthy, and Mail found by a later inventory but never checked."""
    wf = add_workflow(
        fake_n8n,
        "Alerts",
        [node("Post", slackApi=("slack1", "Slack")), node("Issue", githubApi=("gh1", "GitHub"))],
    )
    add_workflow(fake_n8n, "Digest", [node("Send", slackApi=("slack1", "Slack"))])
    sync_workflows(factory, tenant.id, environment.id)
    add_execution(app, tenant.id, environment.id, wf, ago=timedelta(minutes=10))
    add_execution(
        app,
        tenant.id,
        environment.id,
        wf,
        ago=timedelta(minutes=5),
        status="error",
        error_node="Post",
        error_message="invalid_auth",
    )
    factory.run_as(tenant.id, credential_health.check_health, environment.id)
    add_workflow(fake_n8n, "Mailer", [node("Mail", smtp=("smtp1", "Mail"))])
    sync_workflows(factory, tenant.id, environment.id)
    factory.run_as(tenant.id, credentials.sync_inventory, environment.id)
    return {row["n8n_credential_id"]: row for row in _list(app.test_client(), tenant.viewer)}


def _list(client, headers, **query) -> list[dict]:
    response = client.get("/api/v1/credentials", headers=headers, query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def test_list_shows_each_credential_with_its_health(client, tenant, environment, checked):
    assert list(checked) == ["gh1", "smtp1", "slack1"]  # by name: GitHub, Mail, Slack
    slack = checked["slack1"]
    assert slack["environment_id"] == str(environment.id)
    assert (slack["name"], slack["type"], slack["source"], slack["used_by_count"]) == (
        "Slack",
        "slackApi",
        "workflows",
        2,
    )
    assert slack["health"]["status"] == "auth_error"
    assert slack["health"]["check_method"] == "executions"
    assert "invalid_auth" in slack["health"]["error_message"]
    assert slack["health"]["last_checked_at"]
    assert checked["gh1"]["health"]["status"] == "healthy"
    assert checked["smtp1"]["health"] is None
    assert "used_by_workflows" not in slack


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"type": "slackApi"}, ["slack1"]),
        ({"health": "auth_error"}, ["slack1"]),
        ({"health": "healthy"}, ["gh1"]),
        ({"health": "unchecked"}, ["smtp1"]),
    ],
)
def test_list_filters(client, tenant, checked, query, expected):
    environment_id = checked["slack1"]["environment_id"]
    found = _list(client, tenant.viewer, environment_id=environment_id, **query)
    assert [row["n8n_credential_id"] for row in found] == expected


def test_list_is_paginated(client, tenant, checked):
    response = client.get("/api/v1/credentials?limit=2", headers=tenant.viewer)
    assert response.headers["X-Total-Count"] == "3"
    assert len(response.json) == 2
    assert 'rel="next"' in response.headers["Link"]


def test_an_unknown_health_filter_is_refused(client, tenant):
    response = client.get("/api/v1/credentials?health=purple", headers=tenant.viewer)
    assert response.status_code == 422
    assert "health" in str(response.json["details"])


def test_one_credential_names_the_workflows_using_it(client, tenant, checked, fake_n8n):
    slack = checked["slack1"]
    response = client.get(f"/api/v1/credentials/{slack['id']}", headers=tenant.viewer)
    assert response.status_code == 200
    body = response.json
    assert sorted(w["name"] for w in body["used_by_workflows"]) == ["Alerts", "Digest"]
    assert {w["id"] for w in body["used_by_workflows"]} <= fake_n8n.workflow_ids()
    assert body["health"] == slack["health"]
    assert {k: v for k, v in body.items() if k != "used_by_workflows"} == slack


def test_another_tenants_credentials_are_invisible(client, other_tenant, checked):
    slack = checked["slack1"]
    response = client.get(f"/api/v1/credentials/{slack['id']}", headers=other_tenant.admin)
    assert response.status_code == 404
    assert _list(client, other_tenant.admin) == []


def test_list_filters_by_environment(client, factory, tenant, checked):
    with FakeN8n() as other_n8n:
        other = factory.environment(tenant.id, other_n8n)
        add_workflow(other_n8n, "Elsewhere", [node("Post", slackApi=("slack9", "Slack"))])
        sync_workflows(factory, tenant.id, other.id)
        factory.run_as(tenant.id, credentials.sync_inventory, other.id)
    found = _list(client, tenant.viewer, environment_id=other.id)
    assert [row["n8n_credential_id"] for row in found] == ["slack9"]
    assert len(_list(client, tenant.viewer)) == len(checked) + 1
