"""An environment's links and credentials by (type, name), each in one query."""

from __future__ import annotations

from sqlalchemy import insert

from models.credentials import Credential
from models.db import db
from services import env_links
from tests.canonical import link, make_canonical, run, sync_env
from tests.fake_n8n.server import sample_workflow


def uses(name: str, cred_id: str, cred_name: str, cred_type: str = "httpHeaderAuth") -> dict:
    body = sample_workflow(name)
    body["nodes"][1]["credentials"] = {cred_type: {"id": cred_id, "name": cred_name}}
    return body


def test_links_map_both_ways(factory, tenant, environment, fake_n8n):
    a, b = fake_n8n.add_workflows(2)
    sync_env(factory, tenant, environment)
    canonical = make_canonical(factory, tenant, "A")
    link(factory, tenant, environment, a, canonical)
    links = run(factory, tenant, env_links.links_for, environment.id)
    assert links.workflow_ref(a) == str(canonical) and links.workflow_ref(b) is None
    assert links.n8n_id_for(canonical) == a
    moved = links.with_link("new", canonical)
    assert moved.n8n_id_for(canonical) == "new" and moved.workflow_ref(a) is None


def test_credentials_resolve_by_type_and_name_and_ambiguity_resolves_to_nothing(
    factory, tenant, environment, fake_n8n
):
    fake_n8n.add_workflow(uses("one", "c1", "CRM"))
    fake_n8n.add_workflow(uses("two", "c2", "Mail", "smtp"))
    fake_n8n.add_workflow(uses("three", "c3", "Mail", "smtp"))
    sync_env(factory, tenant, environment)
    creds = run(factory, tenant, env_links.credentials_for, environment.id)
    assert creds.resolve("httpHeaderAuth", "CRM") == {"id": "c1", "name": "CRM"}
    assert creds.resolve("httpHeaderAuth", "Nope") is None
    assert creds.resolve("smtp", "Mail") is None
    assert creds.ambiguous == [("smtp", "Mail")]
    assert creds.key("httpHeaderAuth", {"id": "c1", "name": "CRM"}) == "httpHeaderAuth:CRM"


def test_the_inventory_name_wins_over_a_stale_node_cache(factory, tenant, environment, fake_n8n):
    fake_n8n.add_workflow(uses("old", "c1", "CRM (old name)"))
    sync_env(factory, tenant, environment)

    def rename_in_inventory():
        db.execute(
            insert(Credential).values(
                environment_id=environment.id,
                n8n_credential_id="c1",
                name="CRM",
                type="httpHeaderAuth",
            )
        )
        db.commit()
        return env_links.credentials_for(environment.id)

    creds = run(factory, tenant, rename_in_inventory)
    assert creds.resolve("httpHeaderAuth", "CRM") == {"id": "c1", "name": "CRM"}
    assert creds.resolve("httpHeaderAuth", "CRM (old name)") is None
