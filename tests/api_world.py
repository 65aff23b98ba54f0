"""A tenant with one real object of every kind the API's paths name, built through the
product's services, and the value each path parameter of the OpenAPI takes in it.

Tests that walk every operation (the fuzz, the cross-tenant walk) fill path parameters from
here by name; a parameter no builder knows fails loudly, so a new endpoint gets a builder
rather than a walk that quietly skips it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text

import models
from models.db import current_tenant, db
from services import credentials, events, ignore_rules, ingestion, sync, tokens, users
from services.promotions import pipelines
from tests.drift import on_plan
from tests.fake_n8n.server import sample_workflow
from tests.rowgen import RowBuilder
from tests.web.world import ID_PARAMETERS, WORDS

#: Path parameters naming rows of the caller's own kind: each role gets spares of them.
SPARE_PARAMETERS = ("user_id", "token_id")


@dataclass
class World:
    tenant: object
    values: dict[str, str] = field(default_factory=dict)
    #: Per role: (the user another request may change, a token of the caller it may revoke).
    spares: dict[str, tuple[str, str]] = field(default_factory=dict)

    def path_value(self, name: str, role: str, operation: str) -> str:
        """The world's value for path parameter ``name`` when ``role`` calls ``operation``."""
        if name == "user_id":  # never the caller: deactivating it would end the walk
            return self.spares[role][0]
        if name == "token_id":  # the caller's own (only those are reachable), not the one in use
            return self.spares[role][1]
        if name not in self.values:
            pytest.fail(
                f"no builder for path parameter {name!r} of {operation}: add its table to "
                "ID_PARAMETERS (or its value to WORDS) in tests/web/world.py"
            )
        return self.values[name]


def build_world(factory, fake_n8n) -> World:
    """One tenant with an environment synced from ``fake_n8n`` (workflows, executions,
    credentials), an ignore rule, a spare user and a spare token per role."""
    tenant = factory.tenant()
    on_plan(factory, tenant, "pro")  # a spare user per role is more than the free plan's seats
    workflow = sample_workflow("Orders")
    workflow["nodes"][0]["credentials"] = {"httpHeaderAuth": {"id": "c1", "name": "Orders API"}}
    workflow_id = fake_n8n.add_workflow(workflow)["id"]
    fake_n8n.add_execution(workflow_id)
    fake_n8n.add_execution(workflow_id, status="error", error_message="boom")
    env = factory.environment(tenant.id, fake_n8n, environment_class="dev")
    for step in (sync.sync_workflows, ingestion.ingest, credentials.sync_inventory):
        factory.run_as(tenant.id, step, env.id)
    factory.run_as(tenant.id, ignore_rules.create, rule="$.nodes[*].position")
    staging = factory.environment(tenant.id, fake_n8n, environment_class="staging")
    stage = {"source_environment_id": str(env.id), "target_environment_id": str(staging.id)}
    factory.run_as(tenant.id, pipelines.create, name="Release", stages=[stage])
    factory.run_as(tenant.id, _event, env.id)
    factory.run_as(tenant.id, _drift, env.id, tenant.user_ids)
    world = World(tenant=tenant, values=dict(WORDS))
    world.values.update(factory.run_as(tenant.id, _first_ids))
    for role, user_id in tenant.user_ids.items():
        spare = factory.run_as(
            tenant.id, users.create_user, email=f"spare-{role}@{tenant.slug}.example", role=role
        )
        token, _secret = factory.run_as(tenant.id, tokens.issue_token, user_id, name="spare")
        world.spares[role] = (str(spare.id), str(token.id))
    return world


def _event(env_id: uuid.UUID) -> None:
    events.record("environment.sync_finished", resource_type="environment", resource_id=env_id)
    db.commit()


def _drift(env_id: uuid.UUID, user_ids: dict) -> None:
    """An open incident with a pending approval and an override, and a drift policy."""
    from models.drift import DriftPolicy
    from models.environments import Environment
    from services.drift import approvals, attestations, incidents
    from services.identity import Principal

    def who(role: str) -> Principal:
        return Principal(user_id=user_ids[role], tenant_id=None, role=role)

    incident = incidents.open_incident(db.get(Environment, env_id), [], detected_by=None)
    db.add(DriftPolicy(environment_id=None))  # the plan's entitlement is not the point here
    db.commit()
    approvals.request(incident.id, "close", principal=who("developer"), reason="fuzz")
    attestations.give(incident.id, principal=who("admin"), reason="fuzz", ticket_ref="T-1")


def _first_ids() -> dict[str, str]:
    """The first row of each table; a kind the services above did not make gets a generic
    row (tests/rowgen.py) that points at the world's rows (parents first: the reverse of
    ID_PARAMETERS, where each table comes before those it points at)."""
    builder = RowBuilder(db.connection(), current_tenant())
    found = {}
    for name, table in reversed(ID_PARAMETERS.items()):
        if name in SPARE_PARAMETERS:
            continue
        value = db.scalar(text(f"SELECT id FROM {table} ORDER BY id LIMIT 1"))
        if value is None:
            value = builder.build(models.Base.metadata.tables[table])["id"]
        builder.rows.setdefault(table, [{"id": value}])
        found[name] = str(value)
    db.commit()
    return found
