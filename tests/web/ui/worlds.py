"""Worlds the dashboard's canonical and drift pages show, built through the product's own
services: a workflow with two approved versions in Git that then drifted in n8n, and an open
incident about it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.canonical import sync_env
from tests.drift import approve_all, commit_running, edit_in_n8n, on_plan, open_incident


@dataclass(frozen=True)
class Drifted:
    env: object
    n8n_id: str
    canonical_id: uuid.UUID


def _hours(hours: int):
    def change(body):
        body["nodes"][0]["parameters"] = {
            "rule": {"interval": [{"field": "hours", "hoursInterval": hours}]}
        }

    return change


def _add_node(body):
    body["nodes"].append(
        {
            "name": "Notify",
            "type": "n8n-nodes-base.httpRequest",
            "typeVersion": 4,
            "position": [440, 0],
            "parameters": {"url": "https://hooks.example.com/ops", "method": "POST"},
        }
    )
    body["connections"]["No Op"] = {"main": [[{"node": "Notify", "type": "main", "index": 0}]]}
    body["settings"]["timezone"] = "Europe/Berlin"


def drifted(factory, tenant, fake, **env_fields) -> Drifted:
    """An environment whose one workflow has two commits in Git (the second runs every 2
    hours), then was edited in n8n (every 5 hours, a new HTTP node, a timezone): drift."""
    env = factory.environment(tenant.id, fake, **env_fields)
    [(n8n_id, canonical_id)] = approve_all(factory, tenant, env, fake, 1).items()
    edit_in_n8n(fake, n8n_id, _hours(2))
    sync_env(factory, tenant, env)
    commit_running(factory, tenant, env, fake, {n8n_id: canonical_id})
    edit_in_n8n(fake, n8n_id, _hours(5))
    edit_in_n8n(fake, n8n_id, _add_node)
    sync_env(factory, tenant, env)
    return Drifted(env, n8n_id, canonical_id)


def with_incident(factory, tenant, world: Drifted):
    """An open incident about ``world``'s drift (the tenant on the plan that has incidents)."""
    on_plan(factory, tenant, "enterprise")
    affected = {
        "canonical_id": str(world.canonical_id),
        "n8n_workflow_id": world.n8n_id,
        "name": f"Flow {world.n8n_id}",
        "kind": "modified",
        "runtime_digest": "r",
        "approved_digest": "a",
    }
    return open_incident(factory, tenant, world.env, [affected])
