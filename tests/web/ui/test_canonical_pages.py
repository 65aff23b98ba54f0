"""The workflow matrix and a canonical workflow's page: states and filters, the history from
Git, a side-by-side diff between any two versions (and the runtime copy vs Git), every
role reading the same, another tenant's workflow a 404."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.web.ui.worlds import drifted


@pytest.fixture
def world(factory, tenant, fake_n8n):
    return drifted(factory, tenant, fake_n8n, name="prod-eu", environment_class="production")


def test_the_matrix_shows_states_filters_and_links(signed_in, world):
    viewer = signed_in("viewer")
    page = viewer.get("/ui/workflows").data.decode()
    assert "prod-eu" in page and f"Flow {world.n8n_id}" in page
    assert 'data-state="drift"' in page
    assert f"/ui/workflows/{world.canonical_id}" in page
    assert f"left=git:{world.env.id}" in page  # the cell's diff link
    only_in_sync = viewer.get("/ui/workflows?state=in_sync").data.decode()
    assert "No workflow matches." in only_in_sync
    named = viewer.get(f"/ui/workflows?state=drift&name=Flow&environment_id={world.env.id}")
    assert f"Flow {world.n8n_id}" in named.data.decode()
    assert viewer.get("/ui/workflows?state=exploded").status_code == 400


def test_the_matrix_pages_keep_their_filters(signed_in, factory, tenant, fake_n8n, world):
    from tests.drift import approve_all

    approve_all(factory, tenant, world.env, fake_n8n, 3)
    viewer = signed_in("viewer")
    first = viewer.get("/ui/workflows?name=Flow&page=1").data.decode()
    assert 'rel="next"' not in first  # four rows: one page of fifty
    third = viewer.get("/ui/workflows?page=3").data.decode()
    assert "No workflow matches." in third and 'rel="prev" href="?page=2"' in third


def test_a_workflows_page_shows_where_it_runs_and_its_history(signed_in, world):
    page = signed_in("viewer").get(f"/ui/workflows/{world.canonical_id}")
    assert page.status_code == 200
    html = page.data.decode()
    assert "prod-eu" in html and ">drift<" in html
    commits = re.findall(r"<code>([0-9a-f]{10})</code></td>\s*<td>Approve", html)
    assert len(commits) == 2, commits
    assert "with the previous" in html and "with what runs" in html


def test_a_diff_between_two_commits_shows_the_changed_parameter(signed_in, client, tenant, world):
    history = client.get(
        f"/api/v1/canonical-workflows/{world.canonical_id}/history?environment_id={world.env.id}",
        headers=tenant.viewer,
    ).json
    newer, older = history[0]["sha"], history[1]["sha"]
    left, right = f"git:{world.env.id}@{older}", f"git:{world.env.id}@{newer}"
    page = signed_in("viewer").get(
        f"/ui/workflows/{world.canonical_id}", query_string={"left": left, "right": right}
    )
    html = page.data.decode()
    assert page.status_code == 200
    assert "Different behaviour." in html
    assert 'data-section="node"' in html and "Schedule Trigger · parameters.rule" in html
    # Both columns, each value labelled: the interval went from 1 to 2 hours.
    row = re.search(r'<tr class="chg chg-changed">(.*?)</tr>', html, re.S).group(1)
    assert "Changed" in row and "Before: </span><pre>1</pre>" in row
    assert "After: </span><pre>2</pre>" in row
    assert f"Git @ {older[:10]}" in html and f"Git @ {newer[:10]}" in html
    assert f'value="{left}" selected' in html and f'value="{right}" selected' in html


def test_the_runtime_copy_against_git_shows_nodes_connections_and_settings(signed_in, world):
    env = world.env.id
    page = signed_in("viewer").get(
        f"/ui/workflows/{world.canonical_id}",
        query_string={"left": f"git:{env}", "right": f"env:{env}"},
    )
    html = page.data.decode()
    assert page.status_code == 200
    sections = re.findall(r'data-section="(\w+)"', html)
    assert sections == ["node", "connection", "setting"]
    assert '<tr class="chg chg-added">' in html and "Notify" in html
    assert "https://hooks.example.com/ops" in html  # the new node's parameters, on the right
    assert "No Op main[0] -&gt; Notify.main[0]" in html
    assert "Europe/Berlin" in html
    assert "prod-eu — approved in Git" in html and "prod-eu — running in n8n" in html


def test_a_side_that_is_not_a_version_says_why(signed_in, world):
    viewer = signed_in("viewer")
    url = f"/ui/workflows/{world.canonical_id}"
    bad = viewer.get(url, query_string={"left": "prod", "right": f"env:{world.env.id}"})
    assert bad.status_code == 400 and "is not a side" in bad.data.decode()
    missing = viewer.get(
        url, query_string={"left": f"git:{world.env.id}@deadbeef", "right": f"env:{world.env.id}"}
    )
    assert missing.status_code == 404 and "No commit &#39;deadbeef&#39;" in missing.data.decode()
    assert "Where it runs" in missing.data.decode()  # the rest of the page still shows


def test_another_tenants_workflow_is_a_404_like_a_missing_one(
    signed_in, factory, other_tenant, world
):
    from tests.fake_n8n import FakeN8n

    with FakeN8n() as fake:
        theirs = drifted(factory, other_tenant, fake)
    admin = signed_in("admin")
    for canonical_id in (theirs.canonical_id, uuid.uuid4()):
        response = admin.get(f"/ui/workflows/{canonical_id}")
        assert response.status_code == 404
    page = admin.get(
        f"/ui/workflows/{world.canonical_id}",
        query_string={"left": f"env:{theirs.env.id}", "right": f"env:{world.env.id}"},
    )
    assert page.status_code == 404 and "No such environment" in page.data.decode()
    assert f"Flow {theirs.n8n_id}" not in admin.get("/ui/workflows").data.decode()
