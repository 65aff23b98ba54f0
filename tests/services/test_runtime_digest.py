"""One comparison rule: runtime digests through each environment's links, logical credential
mappings and the tenant's ignore rules, equal to the approved file's digest; stored by sync,
recomputed when links, mappings or rules change."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.db import db, tenant_scope
from models.jobs import BackgroundJob
from models.workflows import WorkflowEnvMap
from services import approved, env_links, ignore_rules, runtime_digest
from services.errors import Conflict
from services.promotions import credentials as mappings
from services.workflow_file import from_n8n
from tests.canonical import link, make_canonical, rows, run, states, sync_env
from tests.fake_n8n.server import sample_workflow
from tests.jobs.helpers import wait_for


def caller(name: str, sub_id: str, **settings) -> dict:
    body = sample_workflow(name)
    body["nodes"][1].update(
        type="n8n-nodes-base.executeWorkflow", parameters={"workflowId": sub_id}
    )
    body["settings"].update(settings)
    return body


@pytest.fixture
def staging(factory, tenant, second_n8n):
    return factory.environment(tenant.id, second_n8n, environment_class="staging")


def _pair(factory, tenant, env, fake, **settings):
    """A sub-workflow and a workflow calling it, synced."""
    sub = fake.add_workflow(sample_workflow("Send invoice"))
    main = fake.add_workflow(caller("Orders", sub["id"], **settings))
    sync_env(factory, tenant, env)
    return sub["id"], main["id"]


def test_the_same_workflow_in_two_environments_digests_alike_once_linked(
    app,
    factory,
    tenant,
    environment,
    staging,
    fake_n8n,
    second_n8n,
):
    dev_sub, dev_main = _pair(factory, tenant, environment, fake_n8n)
    stg_sub, stg_main = _pair(factory, tenant, staging, second_n8n)
    before = rows(app, tenant, environment)[dev_main].env_content_hash
    assert before != rows(app, tenant, staging)[stg_main].env_content_hash

    sub = make_canonical(factory, tenant, "Send invoice")
    link(factory, tenant, environment, dev_sub, sub)
    link(factory, tenant, staging, stg_sub, sub)

    dev_row, stg_row = (
        rows(app, tenant, environment)[dev_main],
        rows(app, tenant, staging)[stg_main],
    )
    assert dev_row.env_content_hash == stg_row.env_content_hash != before
    # A re-sync computes the same digest (the links are read by the sync too).
    sync_env(factory, tenant, environment)
    assert rows(app, tenant, environment)[dev_main].env_content_hash == dev_row.env_content_hash

    def file_digest():
        links = env_links.links_for(environment.id)
        file = from_n8n(
            fake_n8n.workflow(dev_main),
            canonical_id="c",
            slug="orders",
            workflow_ref=links.workflow_ref,
        )
        return runtime_digest.context_for(environment.id).file(file)

    assert run(factory, tenant, file_digest) == dev_row.env_content_hash


def test_sync_applies_the_tenants_ignore_rules(app, factory, tenant, environment, fake_n8n):
    utc = fake_n8n.add_workflow(caller("Orders", "x", timezone="UTC"))
    paris = fake_n8n.add_workflow(caller("Orders", "x", timezone="Europe/Paris"))
    sync_env(factory, tenant, environment)
    found = rows(app, tenant, environment)
    assert found[utc["id"]].env_content_hash != found[paris["id"]].env_content_hash

    run(factory, tenant, ignore_rules.create, rule="$.settings.timezone")
    sync_env(factory, tenant, environment)

    found = rows(app, tenant, environment)
    assert found[utc["id"]].env_content_hash == found[paris["id"]].env_content_hash


def test_a_rule_change_rehashes_runtime_and_approved_copies_and_keeps_alignment(
    app, factory, tenant, environment, fake_n8n
):
    wf = fake_n8n.add_workflow(caller("Orders", "x", timezone="UTC"))
    sync_env(factory, tenant, environment)
    canonical = make_canonical(factory, tenant, "Orders")
    link(factory, tenant, environment, wf["id"], canonical)

    def approve():
        file = from_n8n(fake_n8n.workflow(wf["id"]), canonical_id=str(canonical), slug="orders",
                        workflow_ref=env_links.links_for(environment.id).workflow_ref)  # fmt: skip
        approved.commit_approved(
            environment, [approved.ApprovedChange(file)], operation="test", message="approve"
        )

    run(factory, tenant, approve)
    before = rows(app, tenant, environment)[wf["id"]]
    assert before.env_content_hash == before.git_content_hash

    def add_rule_and_rehash():
        ignore_rules.create(rule="$.settings.timezone")
        return runtime_digest.rehash_tenant()

    totals = run(factory, tenant, add_rule_and_rehash)

    after = rows(app, tenant, environment)[wf["id"]]
    state = states(app, tenant, environment)[canonical]
    assert totals["runtime"] == totals["approved"] == totals["aligned"] == 1
    assert after.env_content_hash != before.env_content_hash
    assert after.env_content_hash == after.git_content_hash == state.git_content_hash


def test_a_credential_mapping_rekeys_stored_digests_in_a_rehash_job(
    app, factory, tenant, environment, staging, fake_n8n, second_n8n, worker
):
    """Two environments naming one credential differently digest alike once it is mapped in
    both; the digests sync stored before are recomputed by the job the mapping starts."""
    synced = {}
    for env, fake, name in (
        (environment, fake_n8n, "Slack dev"),
        (staging, second_n8n, "Slack prod"),
    ):
        body = sample_workflow("Notify")
        body["nodes"][1]["credentials"] = {"slackApi": {"id": "c1", "name": name}}
        synced[env] = fake.add_workflow(body)["id"]
        sync_env(factory, tenant, env)

    def digests() -> set[str]:
        return {rows(app, tenant, env)[wid].env_content_hash for env, wid in synced.items()}

    assert len(digests()) == 2

    def map_both():
        logical = mappings.create_logical(credential_type="slackApi", name="Slack")
        for env, name in ((environment, "Slack dev"), (staging, "Slack prod")):
            mappings.create_mapping(
                logical_credential_id=logical.id, environment_id=env.id, n8n_credential_name=name
            )

    run(factory, tenant, map_both)
    with app.app_context(), tenant_scope(tenant.id):
        queued = db.scalars(
            select(BackgroundJob.id).where(BackgroundJob.job_type == "workflow_rehash")
        ).all()
    assert len(queued) == 3
    assert {wait_for(app, tenant.id, job_id, timeout=60).status for job_id in queued} == {
        "completed"
    }
    assert len(digests()) == 1


def test_a_recomputation_stores_a_digest_only_over_the_one_it_read(
    app, factory, tenant, environment, fake_n8n
):
    """A deploy or sync that wrote a digest meanwhile (under the current rules and mappings)
    keeps it."""
    wf = fake_n8n.add_workflow(sample_workflow("Orders"))
    sync_env(factory, tenant, environment)
    row = rows(app, tenant, environment)[wf["id"]]
    synced = row.env_content_hash

    def store(old: str) -> None:
        runtime_digest._store(
            WorkflowEnvMap, "env_content_hash", {str(row.id): (old, "recomputed")}
        )
        db.commit()

    run(factory, tenant, store, "read-before-a-write")
    assert rows(app, tenant, environment)[wf["id"]].env_content_hash == synced
    run(factory, tenant, store, synced)
    assert rows(app, tenant, environment)[wf["id"]].env_content_hash == "recomputed"


def test_linking_a_workflow_twice_in_one_environment_is_a_conflict(
    app, factory, tenant, environment, fake_n8n
):
    a, b = fake_n8n.add_workflows(2)
    sync_env(factory, tenant, environment)
    canonical = make_canonical(factory, tenant, "Orders")
    link(factory, tenant, environment, a, canonical)

    with pytest.raises(Conflict) as refused:
        link(factory, tenant, environment, b, canonical)
    assert refused.value.code == "already_linked"
    assert rows(app, tenant, environment)[a].canonical_id == canonical
