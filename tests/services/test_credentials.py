"""Credential inventory and health against real PostgreSQL and a fake n8n (1.x and 2.x)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text, update

from jobs.schedule import EPOCH
from models.db import db, reset_context, tenant_scope
from models.environments import Environment
from models.executions import Execution
from models.jobs import BackgroundJob
from services import credential_health, credentials, environments, sync
from services.errors import Conflict
from services.n8n import N8nClient
from tests.fake_n8n import FakeN8n
from tests.jobs.helpers import wait_for

SECRET = "xoxb-planted-secret-never-stored"


# --- helpers (also used by tests/web/test_credentials_api.py) ---------------------------------


def node(name: str, **refs: tuple[str, str]) -> dict:
    """A workflow node; ``refs`` maps credential type to (credential id, credential name)."""
    used = {ctype: {"id": cid, "name": cname} for ctype, (cid, cname) in refs.items()}
    return {
        "name": name,
        "type": "n8n-nodes-base.noOp",
        "typeVersion": 1,
        "position": [0, 0],
        "parameters": {},
        **({"credentials": used} if used else {}),
    }


def add_workflow(fake: FakeN8n, name: str, nodes: list) -> str:
    """A workflow in the fake n8n; returns its id."""
    body = {"name": name, "nodes": nodes, "connections": {}, "settings": {}}
    return fake.add_workflow(body)["id"]


def sync_workflows(factory, tenant_id, env_id) -> None:
    factory.run_as(tenant_id, sync.sync_workflows, env_id)


def add_execution(
    app,
    tenant_id,
    env_id,
    workflow_id: str,
    *,
    ago: timedelta,
    status: str = "success",
    error_node: str | None = None,
    error_message: str | None = None,
) -> None:
    """An ingested execution that started ``ago`` before now, inserted as the tenant."""
    started = datetime.now(UTC) - ago
    values = {
        "environment_id": env_id,
        "n8n_execution_id": uuid.uuid4().hex,
        "workflow_id": workflow_id,
        "status": status,
        "normalized_status": status,
        "started_at": started,
        "finished_at": started + timedelta(seconds=1),
        "error_node": error_node,
        "error_message": error_message,
    }
    with app.app_context(), tenant_scope(tenant_id):
        db.execute(insert(Execution).values(**values))
        db.commit()
        reset_context()


def inventory(factory, tenant_id, env_id) -> dict:
    """The environment's credentials with their health, by n8n credential id."""
    query = credentials.list_query(environment_id=env_id)
    rows = factory.run_as(tenant_id, lambda: list(db.scalars(query)))
    return {row.n8n_credential_id: row for row in rows}


def health(factory, tenant_id, env_id) -> dict:
    """{n8n credential id: (status, check_method, error_message)}"""
    return {
        cid: (row.health.status, row.health.check_method, row.health.error_message)
        for cid, row in inventory(factory, tenant_id, env_id).items()
    }


def _scalar(factory, tenant_id, sql: str):
    return factory.run_as(tenant_id, lambda: db.scalar(text(sql)))


@pytest.fixture
def fake_n8n_2x():
    with FakeN8n(version="2.x") as fake:
        yield fake


@pytest.fixture
def environment_2x(factory, tenant, fake_n8n_2x):
    return factory.environment(tenant.id, fake_n8n_2x)


# --- inventory --------------------------------------------------------------------------------


def test_1x_inventory_is_derived_from_the_nodes_of_synced_workflows(
    factory, tenant, environment, fake_n8n
):
    wf_a = add_workflow(
        fake_n8n,
        "A",
        [
            node("Slack", slackApi=("c1", "Team Slack")),
            node("HTTP", httpHeaderAuth=("c2", "Billing API")),
            node("No credentials"),
        ],
    )
    wf_b = add_workflow(fake_n8n, "B", [node("Notify", slackApi=("c1", "Team Slack"))])
    # References that cannot be keyed (no id, not the {type: {id, name}} shape) are skipped.
    add_workflow(
        fake_n8n,
        "Odd",
        [
            {"name": "No id", "credentials": {"slackApi": {"id": None, "name": "Legacy"}}},
            {"name": "Flat", "credentials": {"slackApi": "c1"}},
        ],
    )
    sync_workflows(factory, tenant.id, environment.id)
    fake_n8n.clear_requests()

    summary = factory.run_as(tenant.id, credentials.sync_inventory, environment.id)

    assert summary == {
        "version_family": "1.x",
        "source": "workflows",
        "credentials": 2,
        "added": 2,
        "changed": 0,
        "removed": 0,
    }
    rows = inventory(factory, tenant.id, environment.id)
    assert {cid: (r.name, r.type, r.used_by_workflows, r.source) for cid, r in rows.items()} == {
        "c1": ("Team Slack", "slackApi", sorted([wf_a, wf_b]), "workflows"),
        "c2": ("Billing API", "httpHeaderAuth", [wf_a], "workflows"),
    }
    env = factory.run_as(tenant.id, lambda: db.get(Environment, environment.id))
    assert env.n8n_version_family == "1.x"  # probed, since nothing had recorded it yet
    assert env.last_credential_sync_at is not None
    assert fake_n8n.writes() == []


def test_1x_name_comes_from_the_most_recently_updated_workflow(
    factory, tenant, environment, fake_n8n
):
    add_workflow(fake_n8n, "Old", [node("A", slackApi=("c1", "Old name"))])
    add_workflow(fake_n8n, "New", [node("B", slackApi=("c1", "New name"))])
    sync_workflows(factory, tenant.id, environment.id)
    factory.run_as(tenant.id, credentials.sync_inventory, environment.id)
    assert inventory(factory, tenant.id, environment.id)["c1"].name == "New name"


def test_credentials_no_longer_used_are_deleted_with_their_health(
    factory, tenant, environment, fake_n8n
):
    kept = add_workflow(fake_n8n, "Kept", [node("Slack", slackApi=("c1", "Team Slack"))])
    gone = add_workflow(fake_n8n, "Gone", [node("HTTP", httpHeaderAuth=("c2", "Billing API"))])
    sync_workflows(factory, tenant.id, environment.id)
    factory.run_as(tenant.id, credential_health.check_health, environment.id)
    assert set(health(factory, tenant.id, environment.id)) == {"c1", "c2"}

    with N8nClient(fake_n8n.url, fake_n8n.api_key, allow_private=True) as n8n:
        n8n.delete_workflow(gone)
        n8n.update_workflow(
            kept, {**n8n.get_workflow(kept), "nodes": [node("Slack", slackApi=("c1", "Renamed"))]}
        )
    sync_workflows(factory, tenant.id, environment.id)
    summary = factory.run_as(tenant.id, credentials.sync_inventory, environment.id)

    assert (summary["added"], summary["changed"], summary["removed"]) == (0, 1, 1)
    rows = inventory(factory, tenant.id, environment.id)
    assert {cid: row.name for cid, row in rows.items()} == {"c1": "Renamed"}
    assert _scalar(factory, tenant.id, "SELECT count(*) FROM credential_health") == 1
    again = factory.run_as(tenant.id, credentials.sync_inventory, environment.id)
    assert (again["added"], again["changed"], again["removed"]) == (0, 0, 0)


def test_2x_inventory_lists_n8n_credentials_with_the_workflows_using_them(
    factory, tenant, environment_2x, fake_n8n_2x
):
    slack = fake_n8n_2x.add_credential("Team Slack", "slackApi", {"accessToken": SECRET})["id"]
    spare = fake_n8n_2x.add_credential("Spare", "httpHeaderAuth")["id"]
    wf = add_workflow(fake_n8n_2x, "A", [node("Slack", slackApi=(slack, "Old name"))])
    sync_workflows(factory, tenant.id, environment_2x.id)

    summary = factory.run_as(tenant.id, credentials.sync_inventory, environment_2x.id)

    assert summary == {
        "version_family": "2.x",
        "source": "api",
        "credentials": 2,
        "added": 2,
        "changed": 0,
        "removed": 0,
    }
    rows = inventory(factory, tenant.id, environment_2x.id)
    # n8n's own list is the truth for names; usage still comes from the workflow nodes.
    assert {cid: (r.name, r.used_by_workflows, r.source) for cid, r in rows.items()} == {
        slack: ("Team Slack", [wf], "api"),
        spare: ("Spare", [], "api"),
    }

    del fake_n8n_2x.store.credentials[spare]
    again = factory.run_as(tenant.id, credentials.sync_inventory, environment_2x.id)
    assert again["removed"] == 1
    assert set(inventory(factory, tenant.id, environment_2x.id)) == {slack}
    assert fake_n8n_2x.writes() == []


def test_secrets_never_reach_the_database(factory, tenant, environment_2x, fake_n8n_2x):
    fake_n8n_2x.add_credential("Team Slack", "slackApi", {"accessToken": SECRET})
    factory.run_as(tenant.id, credential_health.check_health, environment_2x.id)
    # Even an instance (or a proxy) that wrongly sends credential data has it dropped.
    leaky = {
        "id": "leaky",
        "name": "Leaky",
        "type": "httpHeaderAuth",
        "data": {"value": SECRET},
        "oauthTokenData": {"access_token": SECRET},
        "shared": [
            {
                "projectId": "p1",
                "role": "credential:owner",
                "secret": SECRET,
                "project": {"id": "p1", "name": "Ops", "apiKey": SECRET},
            }
        ],
    }
    fake_n8n_2x.fail_path(
        r"/credentials$", 200, method="GET", body={"data": [leaky], "nextCursor": None}
    )
    factory.run_as(tenant.id, credential_health.check_health, environment_2x.id)

    row = inventory(factory, tenant.id, environment_2x.id)["leaky"]
    assert (row.name, row.type) == ("Leaky", "httpHeaderAuth")
    assert row.shared_with_projects == [
        {"project_id": "p1", "project_name": "Ops", "role": "credential:owner"}
    ]
    stored = _scalar(
        factory,
        tenant.id,
        "SELECT (SELECT string_agg(row_to_json(c)::text, ' ') FROM credentials c)"
        " || (SELECT string_agg(row_to_json(h)::text, ' ') FROM credential_health h)",
    )
    assert "leaky" in stored
    assert SECRET not in stored


# --- health -----------------------------------------------------------------------------------


def test_2x_health_comes_from_n8n_test_and_else_from_executions(
    app, factory, tenant, environment_2x, fake_n8n_2x
):
    env = environment_2x.id
    good = fake_n8n_2x.add_credential("Good", "slackApi")["id"]
    bad = fake_n8n_2x.add_credential("Bad", "githubApi")["id"]
    untestable = fake_n8n_2x.add_credential("Postgres", "postgres")["id"]
    fake_n8n_2x.set_credential_test_result(bad, "Error", "401 Bad credentials")
    fake_n8n_2x.set_credential_test_result(
        untestable, "Error", "No testing function found for this credential."
    )
    wf = add_workflow(fake_n8n_2x, "DB", [node("Query", postgres=(untestable, "PG"))])
    sync_workflows(factory, tenant.id, env)
    add_execution(
        app,
        tenant.id,
        env,
        wf,
        ago=timedelta(minutes=5),
        status="error",
        error_node="Query",
        error_message="password authentication failed",
    )

    summary = factory.run_as(tenant.id, credential_health.check_health, env)

    assert health(factory, tenant.id, env) == {
        good: ("healthy", "test_endpoint", None),
        bad: ("auth_error", "test_endpoint", "401 Bad credentials"),
        untestable: (
            "auth_error",
            "executions",
            "The latest run was refused authentication at node Query of workflow DB: password"
            " authentication failed",
        ),
    }
    assert (summary["checked"], summary["healthy"], summary["auth_error"]) == (3, 1, 2)
    assert summary["by_method"] == {"test_endpoint": 2, "executions": 1}
    tested = {r.api_path for r in fake_n8n_2x.requests_to(r"/credentials/[^/]+/test")}
    assert tested == {f"/credentials/{cid}/test" for cid in (good, bad, untestable)}


def test_1x_health_follows_recent_errors_on_the_nodes_using_each_credential(
    app, factory, tenant, environment, fake_n8n
):
    env = environment.id
    wf_a = add_workflow(
        fake_n8n,
        "A",
        [node("Slack", slackApi=("flaky", "Slack")), node("HTTP", httpHeaderAuth=("broken", "B"))],
    )
    add_workflow(fake_n8n, "B", [node("Notify", slackApi=("flaky", "Slack"))])
    wf_c = add_workflow(fake_n8n, "C", [node("Mail", smtp=("quiet", "SMTP")), node("Code")])
    add_workflow(fake_n8n, "D", [node("Idle", githubApi=("idle", "GitHub"))])
    sync_workflows(factory, tenant.id, env)

    def run(workflow_id, ago, **failure):
        status = "error" if failure else "success"
        add_execution(app, tenant.id, env, workflow_id, ago=ago, status=status, **failure)

    # flaky: failed at its node 3 h ago, but that node's latest run succeeded -> warning.
    run(wf_a, timedelta(hours=3), error_node="Slack", error_message="channel_not_found")
    run(wf_a, timedelta(hours=2))
    # broken: the latest run of its node (after that success) was refused -> auth_error.
    run(wf_a, timedelta(minutes=30), error_node="HTTP", error_message="401 Unauthorized")
    # quiet: failed at another node, and at its own only outside the window: nothing in the
    # window says anything about it -> unknown, as idle, which nothing ran.
    run(wf_c, timedelta(minutes=10), error_node="Code", error_message="TypeError")
    run(wf_c, timedelta(hours=30), error_node="Mail", error_message="535 auth failed")

    summary = factory.run_as(tenant.id, credential_health.check_health, env)

    assert health(factory, tenant.id, env) == {
        "flaky": (
            "warning",
            "executions",
            "1 failed run(s) in the last 24 h, the latest runs succeeded; last failure at"
            " node Slack of workflow A: channel_not_found",
        ),
        "broken": (
            "auth_error",
            "executions",
            "The latest run was refused authentication at node HTTP of workflow A: 401"
            " Unauthorized",
        ),
        "quiet": ("unknown", "executions", "No run of a node using it in the last 24 h."),
        "idle": ("unknown", "executions", "No run of a node using it in the last 24 h."),
    }
    assert {k: summary[k] for k in ("checked", "unknown", "warning", "auth_error")} == {
        "checked": 4,
        "unknown": 2,
        "warning": 1,
        "auth_error": 1,
    }

    # A later success of the broken node makes it a warning; still one row per credential.
    first_check = inventory(factory, tenant.id, env)["broken"].health.last_checked_at
    run(wf_a, timedelta(minutes=1))
    factory.run_as(tenant.id, credential_health.check_health, env)
    after = inventory(factory, tenant.id, env)["broken"].health
    assert after.status == "warning"
    assert after.last_checked_at > first_check
    assert _scalar(factory, tenant.id, "SELECT count(*) FROM credential_health") == 4


def test_a_target_that_is_down_is_not_an_authentication_failure(
    app, factory, tenant, environment, fake_n8n
):
    env = environment.id
    wf = add_workflow(
        fake_n8n,
        "Sync",
        [node("CRM", httpHeaderAuth=("down", "CRM")), node("Git", githubApi=("ok", "GitHub"))],
    )
    sync_workflows(factory, tenant.id, env)
    add_execution(
        app,
        tenant.id,
        env,
        wf,
        ago=timedelta(minutes=5),
        status="error",
        error_node="CRM",
        error_message="connect ECONNREFUSED 10.1.2.3:443",
    )
    add_execution(app, tenant.id, env, wf, ago=timedelta(minutes=20))
    factory.run_as(tenant.id, credential_health.check_health, env)
    verdicts = health(factory, tenant.id, env)
    assert verdicts["down"][0] == "error"
    assert verdicts["ok"] == ("healthy", "executions", None)


def test_n8ns_test_tells_a_refused_credential_from_an_unreachable_target(
    factory, tenant, environment_2x, fake_n8n_2x
):
    refused = fake_n8n_2x.add_credential("Refused", "slackApi")["id"]
    unreachable = fake_n8n_2x.add_credential("Down", "githubApi")["id"]
    fake_n8n_2x.set_credential_test_result(refused, "Error", "invalid_auth: Invalid token")
    fake_n8n_2x.set_credential_test_result(unreachable, "Error", "getaddrinfo ENOTFOUND api")
    factory.run_as(tenant.id, credential_health.check_health, environment_2x.id)
    verdicts = health(factory, tenant.id, environment_2x.id)
    assert verdicts[refused][0] == "auth_error"
    assert verdicts[unreachable][0] == "error"


def test_usage_in_a_workflow_too_large_to_cache_still_counts(
    factory, tenant, environment, fake_n8n, monkeypatch
):
    monkeypatch.setattr(sync, "MAX_CACHED_BYTES", 2_000)
    big = node("Big", slackApi=("slack-1", "Slack"))
    big["parameters"] = {"text": "x" * 10_000}
    workflow_id = add_workflow(fake_n8n, "Huge", [big])
    sync_workflows(factory, tenant.id, environment.id)
    cached = _scalar(factory, tenant.id, "SELECT count(workflow_data) FROM workflow_env_map")
    assert cached == 0
    factory.run_as(tenant.id, credentials.sync_inventory, environment.id)
    [credential] = inventory(factory, tenant.id, environment.id).values()
    assert (credential.n8n_credential_id, credential.used_by_workflows) == (
        "slack-1",
        [workflow_id],
    )


# --- jobs -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("worker")
def test_onboarding_takes_the_inventory_and_the_jobs_run_on_the_worker(
    app, factory, tenant, environment, fake_n8n
):
    add_workflow(fake_n8n, "A", [node("Slack", slackApi=("c1", "Slack"))])
    onboarding = factory.run_as(
        tenant.id,
        lambda: db.scalar(select(BackgroundJob.id).where(BackgroundJob.job_type == "onboarding")),
    )
    done = wait_for(app, tenant.id, onboarding)
    assert done.status == "completed", done.error_message
    assert done.result["credentials"]["credentials"] == 1
    user = tenant.user_ids["developer"]

    job = factory.run_as(
        tenant.id, environments.start_job, "credential_sync", environment.id, user_id=user
    )
    done = wait_for(app, tenant.id, job.id)
    assert (done.status, done.job_type, done.resource_id) == (
        "completed",
        "credential_sync",
        environment.id,
    )
    assert (done.result["credentials"], done.result["added"]) == (1, 0)

    job = factory.run_as(
        tenant.id, environments.start_job, "credential_health", environment.id, user_id=user
    )
    done = wait_for(app, tenant.id, job.id)
    assert done.status == "completed", done.error_message
    assert (done.result["checked"], done.result["unknown"]) == (1, 1)
    assert health(factory, tenant.id, environment.id)["c1"][:2] == ("unknown", "executions")


def test_a_second_start_while_one_is_pending_is_a_conflict(factory, tenant, environment):
    first = factory.run_as(
        tenant.id, environments.start_job, "credential_health", environment.id, user_id=None
    )
    with pytest.raises(Conflict) as conflict:
        factory.run_as(
            tenant.id, environments.start_job, "credential_health", environment.id, user_id=None
        )
    assert conflict.value.details["job_id"] == str(first.id)


def test_health_schedule_starts_one_job_per_environment_and_slot(
    app, factory, tenant, other_tenant, fake_n8n
):
    from jobs.credentials import SCHEDULES  # after the app loaded the actors on its broker

    (schedule,) = SCHEDULES
    mine = [factory.environment(tenant.id, fake_n8n).id for _ in range(2)]
    theirs = factory.environment(other_tenant.id, fake_n8n).id
    slot = EPOCH + timedelta(hours=uuid.uuid4().int % 10_000)
    try:
        assert schedule.plan(slot) >= 3
        assert schedule.plan(slot) == 0
        for tenant_id, env_ids in ((tenant.id, mine), (other_tenant.id, [theirs])):
            started = scheduled_jobs(factory, tenant_id, slot)
            assert sorted((j.resource_id, j.schedule_key) for j in started) == sorted(
                (e, f"credential_health:{e}") for e in env_ids
            )
            assert {(j.job_type, j.triggered_by) for j in started} == {
                ("credential_health", "schedule")
            }
    finally:
        cancel_scheduled(app, slot)


def scheduled_jobs(factory, tenant_id, slot) -> list[BackgroundJob]:
    query = select(BackgroundJob).where(BackgroundJob.scheduled_slot == slot)
    return factory.run_as(tenant_id, lambda: list(db.scalars(query)))


def cancel_scheduled(app, slot) -> None:
    """Cancel what a plan started in every tenant, so that no later test's worker runs it."""
    with app.app_context():
        tenant_ids = list(
            db.scalars(text("SELECT DISTINCT tenant_id FROM scheduled_environments()"))
        )
        reset_context()
    cancel = (
        update(BackgroundJob)
        .where(BackgroundJob.scheduled_slot == slot, BackgroundJob.status == "pending")
        .values(status="cancelled", finished_at=datetime.now(UTC))
    )
    for tenant_id in tenant_ids:
        with app.app_context(), tenant_scope(tenant_id):
            db.execute(cancel)
            db.commit()
            reset_context()
