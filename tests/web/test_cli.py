"""Operator commands create tenants, users and tokens that then work against the API."""

from __future__ import annotations

import uuid


def test_cli_creates_tenant_user_and_token(app, client):
    runner = app.test_cli_runner()
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    result = runner.invoke(args=["create-tenant", "--name", "Acme", "--slug", slug])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=["create-user", "--tenant", slug, "--email", "ops@acme.example", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("invitation n8o_inv_")
    result = runner.invoke(args=["issue-token", "--tenant", slug, "--email", "ops@acme.example"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json["tenant"]["slug"] == slug
    assert me.json["user"]["role"] == "admin"


def test_cli_reports_an_unknown_tenant_clearly(app):
    result = app.test_cli_runner().invoke(
        args=["create-user", "--tenant", "no-such-tenant", "--email", "a@b.example"]
    )
    assert result.exit_code != 0
    assert "No tenant with slug 'no-such-tenant'" in result.output


def test_cli_lists_cancels_and_reruns_jobs(app, tenant):
    from tests.jobs.helpers import read_job, start_job

    job_id = start_job(app, tenant.id)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["jobs", "list", "--tenant", tenant.slug, "--status", "pending"])
    assert listed.exit_code == 0, listed.output
    assert str(job_id) in listed.output and "noop" in listed.output
    cancelled = runner.invoke(args=["jobs", "cancel", "--tenant", tenant.slug, str(job_id)])
    assert cancelled.output.strip() == f"{job_id} cancelled"
    rerun = runner.invoke(args=["jobs", "rerun", "--tenant", tenant.slug, str(job_id)])
    assert rerun.exit_code == 0, rerun.output
    new = read_job(app, tenant.id, uuid.UUID(rerun.output.strip()))
    assert new.rerun_of_id == job_id and new.status == "pending"
    again = runner.invoke(args=["jobs", "cancel", "--tenant", tenant.slug, str(job_id)])
    assert again.exit_code != 0 and "already cancelled" in again.output


def test_cli_shows_broker_queue_depths_to_operators(app, tenant):
    from tests.jobs.helpers import start_job

    start_job(app, tenant.id)
    result = app.test_cli_runner().invoke(args=["jobs", "queues"])
    assert result.exit_code == 0, result.output
    depths = {line.split()[0]: int(line.split()[2]) for line in result.output.splitlines()}
    assert depths["default"] >= 1


def test_cli_canonical_matrix_and_jobs_act_as_a_user(app, tenant, factory, fake_n8n):
    from tests.canonical import make_canonical
    from tests.drift import on_plan

    on_plan(factory, tenant, "pro")
    env = factory.environment(tenant.id, fake_n8n, environment_class="staging", name="stg")
    make_canonical(factory, tenant, "Orders")
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["canonical", "matrix", "--tenant", tenant.slug])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines() == ["slug\tstg", "orders\tabsent"]
    viewer, admin = (f"{role}@{tenant.slug}.example" for role in ("viewer", "admin"))
    refused = runner.invoke(
        args=["canonical", "backup", "--tenant", tenant.slug, "--as", admin,
              "--environment", str(env.id)]
    )  # fmt: skip
    assert refused.exit_code != 0 and "not allowed in staging" in refused.output
    by_viewer = runner.invoke(
        args=["canonical", "repo-sync", "--tenant", tenant.slug, "--as", viewer]
    )
    assert by_viewer.exit_code != 0 and "takes the developer role" in by_viewer.output
    synced = runner.invoke(args=["canonical", "repo-sync", "--tenant", tenant.slug, "--as", admin])
    assert synced.exit_code == 0 and "repo_sync  pending" in synced.output
