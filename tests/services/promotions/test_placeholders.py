"""Placeholder credentials: with the stage's flag, a reference the target cannot resolve is
written to an empty credential of the same type created there (reused by later promotions),
the workflow lands inactive and its deployment row names the placeholder; without the flag
the gate blocks. A failed deployment deletes the placeholders it created; a manual rollback
keeps them."""

from __future__ import annotations

import json

import pytest

from services.errors import Conflict
from services.promotions import deployments, lifecycle
from services.promotions.placeholders import empty_data
from tests.canonical import audit_actions, rows, run, states, sync_env
from tests.drift import principal
from tests.fake_n8n.credential_schemas import CREDENTIAL_SCHEMAS, schema_errors
from tests.jobs.helpers import wait_for
from tests.promotions import (
    approve,
    deploy_now,
    new_version_in_dev,
    pipeline,
    promote,
    seed,
    state,
    workflow,
)

PLACEHOLDER = "Missing here (placeholder from n8n-ops)"
LENIENT = {"policy": {"allow_placeholder_credentials": True}}


def _needs_secret(factory, tenant, dev, fake, credentials: dict | None = None):
    """An active dev workflow whose HTTP node uses a credential staging does not have."""
    body = workflow("Needs secret")
    body["nodes"][1]["credentials"] = credentials or {
        "httpHeaderAuth": {"id": "c1", "name": "Missing here"}
    }
    seeds = seed(factory, tenant, dev, fake, {"Needs secret": body})
    with fake._lock:
        fake.store.set_active(seeds["Needs secret"].dev_id, True, check=False)
    sync_env(factory, tenant, dev)
    approve(factory, tenant, dev, fake, seeds)
    return seeds


def _credentials(fake) -> list[tuple[str, str]]:
    with fake._lock:
        return sorted((c["type"], c["name"]) for c in fake.store.credentials.values())


def test_a_placeholder_is_created_and_referenced_and_the_workflow_stays_inactive(
    app, client, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    seeds = _needs_secret(factory, tenant, dev, fake_n8n)
    pipe = pipeline(factory, tenant, dev, staging, **LENIENT)
    promotion = promote(factory, tenant, pipe, dev, staging, seeds)
    [warning] = promotion.gate_results["warnings"]
    assert warning["code"] == "credential_missing" and "placeholder" in warning["message"]

    job = deploy_now(app, factory, tenant, promotion)

    assert job.status == "completed", job.error_message
    assert _credentials(second_n8n) == [("httpHeaderAuth", PLACEHOLDER)]
    [made] = second_n8n.store.credentials.values()
    promotion, deployment, by_name = state(app, tenant, promotion.id)
    row = by_name["Needs secret"]
    stored = second_n8n.workflow(row.target_n8n_id)
    assert stored["active"] is False
    http = next(n for n in stored["nodes"] if n["name"] == "Call")
    assert http["credentials"]["httpHeaderAuth"] == {"id": made["id"], "name": PLACEHOLDER}
    expected = {
        "type": "httpHeaderAuth",
        "name": "Missing here",
        "placeholder": PLACEHOLDER,
        "id": made["id"],
        "created": True,
    }
    assert row.placeholder_credentials == [expected]
    shown = client.get(f"/api/v1/deployments/{deployment.id}", headers=tenant.admin).json
    assert shown["workflows"][0]["placeholder_credentials"] == [expected]
    assert shown["deployment"]["summary"]["with_placeholders"] == 1
    assert promotion.execution_result["workflows"][0]["placeholders"] == [expected]
    assert promotion.execution_result["placeholders"] == [expected]
    [rewrite] = promotion.execution_result["rewrites"]
    assert rewrite["via"] == "placeholder"
    assert rewrite["to"] == {"id": made["id"], "name": PLACEHOLDER}
    [(_, _, audited)] = audit_actions(app, tenant, "promotion.placeholder_created")
    assert audited["id"] == made["id"] and "data" not in json.dumps(audited)
    # The placeholder stands for the credential it is named after: no drift in staging.
    mapped = rows(app, tenant, staging)[row.target_n8n_id]
    assert mapped.env_content_hash == mapped.git_content_hash
    assert states(app, tenant, staging)[seeds["Needs secret"].canonical_id].git_content_hash

    # Another workflow's missing credential gets its own placeholder.
    other = workflow("Other secret")
    other["nodes"][1]["credentials"] = {"httpHeaderAuth": {"id": "c9", "name": "Other here"}}
    others = seed(factory, tenant, dev, fake_n8n, {"Other secret": other})
    assert (
        deploy_now(
            app, factory, tenant, promote(factory, tenant, pipe, dev, staging, others)
        ).status
        == "completed"
    )

    # A later promotion reuses its own: no second credential, still inactive.
    new_version_in_dev(factory, tenant, dev, fake_n8n, seeds)
    again = promote(factory, tenant, pipe, dev, staging, seeds)
    assert deploy_now(app, factory, tenant, again).status == "completed"

    assert _credentials(second_n8n) == [
        ("httpHeaderAuth", PLACEHOLDER),
        ("httpHeaderAuth", "Other here (placeholder from n8n-ops)"),
    ]
    again, _, by_name = state(app, tenant, again.id)
    assert again.execution_result["placeholders"] == [expected | {"created": False}]
    assert second_n8n.workflow(row.target_n8n_id)["active"] is False
    assert len(audit_actions(app, tenant, "promotion.placeholder_created")) == 2


def test_without_the_flag_the_gate_blocks_and_no_placeholder_is_made(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n
):
    seeds = _needs_secret(factory, tenant, dev, fake_n8n)
    promotion = promote(
        factory, tenant, pipeline(factory, tenant, dev, staging), dev, staging, seeds
    )

    with pytest.raises(Conflict) as blocked:
        run(factory, tenant, deployments.execute, promotion.id, principal=principal(tenant))

    assert [e["code"] for e in blocked.value.details["errors"]] == ["credential_missing"]
    assert _credentials(second_n8n) == [] and second_n8n.writes() == []


def test_a_failed_deployment_deletes_the_placeholders_it_created(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    # The second reference's type is unknown to staging's n8n: after the first placeholder
    # was made, the second cannot be, and the deployment fails before any workflow write.
    seeds = _needs_secret(
        factory,
        tenant,
        dev,
        fake_n8n,
        {
            "httpHeaderAuth": {"id": "c1", "name": "Missing here"},
            "zzzUnknownApi": {"id": "c2", "name": "Exotic"},
        },
    )
    pipe = pipeline(factory, tenant, dev, staging, **LENIENT)
    promotion = promote(factory, tenant, pipe, dev, staging, seeds)

    job = deploy_now(app, factory, tenant, promotion)

    assert job.status == "failed" and "zzzUnknownApi" in job.error_message
    assert _credentials(second_n8n) == [] and second_n8n.workflow_ids() == set()
    promotion, _, _ = state(app, tenant, promotion.id)
    [removed] = promotion.execution_result["placeholders"]
    assert removed["placeholder"] == PLACEHOLDER and removed["removed"] is True
    assert [a for a, _, _ in audit_actions(app, tenant, "promotion.placeholder")] == [
        "promotion.placeholder_created",
        "promotion.placeholders_removed",
    ]


def test_a_manual_rollback_keeps_the_placeholder_and_no_workflow_points_at_nothing(
    app, factory, tenant, dev, staging, fake_n8n, second_n8n, worker
):
    seeds = _needs_secret(factory, tenant, dev, fake_n8n)
    pipe = pipeline(factory, tenant, dev, staging, **LENIENT)
    promotion = promote(factory, tenant, pipe, dev, staging, seeds)
    assert deploy_now(app, factory, tenant, promotion).status == "completed"

    deployment = run(
        factory, tenant, deployments.rollback, promotion.id, principal=principal(tenant)
    )
    job = wait_for(app, tenant.id, deployment.rollback_job_id, timeout=60)

    assert job.status == "completed", job.error_message
    # The workflow the promotion created is gone; the placeholder (which an operator may
    # have filled in meanwhile) stays, and the next promotion reuses it.
    assert second_n8n.workflow_ids() == set()
    assert _credentials(second_n8n) == [("httpHeaderAuth", PLACEHOLDER)]
    again = promote(factory, tenant, pipe, dev, staging, seeds)
    assert deploy_now(app, factory, tenant, again).status == "completed"
    assert _credentials(second_n8n) == [("httpHeaderAuth", PLACEHOLDER)]


@pytest.mark.parametrize("cred_type", sorted(CREDENTIAL_SCHEMAS))
def test_placeholder_data_is_what_n8n_accepts(cred_type):
    schema = CREDENTIAL_SCHEMAS[cred_type]

    assert schema_errors(schema, empty_data(schema)) == []


def test_placeholder_data_meets_shown_conditions_and_old_one_of_schemas():
    smtp = CREDENTIAL_SCHEMAS["smtp"]
    # An empty data does not do: the condition holds while "secure" is absent.
    assert schema_errors(smtp, {}) != []
    assert empty_data(smtp) == {"disableStartTls": False}
    older = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "authentication": {"type": "string", "enum": ["apiKey", "oAuth2"]},
            "apiKey": {"type": "string"},
            "clientId": {"type": "string"},
        },
        "required": ["authentication"],
        "allOf": [
            {
                "if": {"properties": {"authentication": {"enum": ["apiKey"]}}},
                "then": {"oneOf": [{"required": ["apiKey"]}]},
                "else": {"allOf": [{"not": {"required": ["apiKey"]}}]},
            },
            {
                "if": {"properties": {"authentication": {"enum": ["oAuth2"]}}},
                "then": {"allOf": [{"required": ["clientId"]}]},
                "else": {"allOf": [{"not": {"required": ["clientId"]}}]},
            },
        ],
    }

    data = empty_data(older)

    assert data == {"authentication": "apiKey", "apiKey": ""}
    assert schema_errors(older, data) == []


def test_lifecycle_validate_reports_the_placeholder_as_a_warning(
    factory, tenant, dev, staging, fake_n8n, second_n8n
):
    seeds = _needs_secret(factory, tenant, dev, fake_n8n)
    pipe = pipeline(factory, tenant, dev, staging, **LENIENT)

    report = run(
        factory,
        tenant,
        lifecycle.validate,
        pipeline_id=pipe.id,
        source_environment_id=dev.id,
        target_environment_id=staging.id,
        canonical_ids=[seeds["Needs secret"].canonical_id],
        principal=principal(tenant),
    )

    assert report["passed"] and [w["code"] for w in report["warnings"]] == ["credential_missing"]
