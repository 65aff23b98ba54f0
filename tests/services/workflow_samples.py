"""n8n workflows for the file, diff and digest tests, shaped like GET /workflows/{id} answers."""

from __future__ import annotations

import copy
import random
from typing import Any

#: Two instances' ids of the same workflows, and their canonical ids.
DEV_IDS = {"devSub00000000001": "sub-invoice", "devErr00000000001": "err-handler"}
PROD_IDS = {"prodSub0000000001": "sub-invoice", "prodErr0000000001": "err-handler"}


def node(name: str, node_type: str, position=(0, 0), **fields: Any) -> dict[str, Any]:
    """A node as n8n returns it: an id, a position, parameters."""
    return {
        "id": f"id-{name}",
        "name": name,
        "type": node_type,
        "typeVersion": fields.pop("typeVersion", 1),
        "position": list(position),
        "parameters": fields.pop("parameters", {}),
        **fields,
    }


def link(*pairs: tuple[str, str]) -> dict[str, Any]:
    """main-output connections, one per (source, target) pair, in order."""
    out: dict[str, Any] = {}
    for source, target in pairs:
        outputs = out.setdefault(source, {"main": [[]]})["main"]
        outputs[0].append({"node": target, "type": "main", "index": 0})
    return out


def workflow(*nodes: dict[str, Any], connections=None, **fields: Any) -> dict[str, Any]:
    return {
        "id": "wfInstance000001",
        "name": fields.pop("name", "Orders"),
        "active": fields.pop("active", False),
        "nodes": list(nodes),
        "connections": connections or {},
        "settings": fields.pop("settings", {"executionOrder": "v1"}),
        "versionId": "v-1",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-02T00:00:00.000Z",
        "tags": fields.pop("tags", []),
        **fields,
    }


def orders(instance: str = "dev") -> dict[str, Any]:
    """A workflow with everything a file must carry: a webhook trigger, credentials, an
    expression, sub-workflow calls (plain id and resource locator), error workflow and caller
    ids, notes, a sticky note, settings GET returns but a write rejects, runtime data."""
    sub, err = ("devSub00000000001", "devErr00000000001")
    if instance == "prod":
        sub, err = ("prodSub0000000001", "prodErr0000000001")
    cred_id = f"{instance}Cred01"
    return workflow(
        node(
            "Webhook",
            "n8n-nodes-base.webhook",
            typeVersion=2,
            parameters={"path": "orders", "httpMethod": "POST", "options": {}},
            webhookId=f"{instance}-hook-uuid",
        ),
        node(
            "Fetch customer",
            "n8n-nodes-base.httpRequest",
            (220, 0),
            typeVersion=4.2,
            parameters={
                "url": "={{ 'https://crm.example/customers/' + $json.body.id }}",
                "authentication": "genericCredentialType",
                "genericAuthType": "httpHeaderAuth",
                "options": {"timeout": 10000},
            },
            credentials={"httpHeaderAuth": {"id": cred_id, "name": "CRM token"}},
            retryOnFail=True,
            maxTries=2,
            notes="CRM lookup",
            notesInFlow=True,
        ),
        node(
            "Invoice",
            "n8n-nodes-base.executeWorkflow",
            (440, 0),
            typeVersion=1.2,
            parameters={
                "workflowId": {
                    "__rl": True,
                    "value": sub,
                    "mode": "list",
                    "cachedResultName": "Send invoice",
                    "cachedResultUrl": f"/workflow/{sub}",
                },
                "options": {},
            },
        ),
        node(
            "Legacy call",
            "n8n-nodes-base.executeWorkflow",
            (440, 200),
            parameters={"workflowId": sub},
        ),
        node(
            "Sticky Note",
            "n8n-nodes-base.stickyNote",
            (-200, -150),
            parameters={"content": "## Orders\nCalls the CRM.", "height": 200, "width": 300},
        ),
        connections=link(
            ("Webhook", "Fetch customer"),
            ("Fetch customer", "Invoice"),
            ("Fetch customer", "Legacy call"),
        ),
        settings={
            "executionOrder": "v1",
            "errorWorkflow": err,
            "callerPolicy": "workflowsFromAList",
            "callerIds": f"{sub}, {err}",
            "availableInMCP": False,
        },
        active=True,
        tags=[{"id": f"{instance}Tag1", "name": "billing"}, {"id": "t2", "name": "crm"}],
        staticData={"node:Webhook": {"seen": 3}},
        pinData={"Webhook": [{"json": {"body": {"id": 1}}}]},
        meta={"templateCredsSetupCompleted": True},
        triggerCount=1,
        shared=[{"role": "workflow:owner", "projectId": "p1"}],
    )


def edited(workflow: dict[str, Any], edit) -> dict[str, Any]:
    changed = copy.deepcopy(workflow)
    edit(changed)
    return changed


def named(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in workflow["nodes"] if n["name"] == name)


def big_workflow(count: int) -> dict[str, Any]:
    """A schedule trigger and a chain of ``count - 1`` Set nodes, each with an expression."""
    nodes = [node("Trigger", "n8n-nodes-base.scheduleTrigger")]
    for i in range(count - 1):
        nodes.append(
            node(
                f"Step {i}",
                "n8n-nodes-base.set",
                (i * 20, i % 7 * 40),
                typeVersion=3.4,
                parameters={"fields": {"index": i, "text": f"={{{{ $json.v{i} }}}}"}},
            )
        )
    pairs = [("Trigger", "Step 0")] + [(f"Step {i}", f"Step {i + 1}") for i in range(count - 2)]
    return workflow(*nodes, connections=link(*pairs))


def damage(content: Any, rng: random.Random) -> Any:
    """Random structural damage: drop, retype or replace a value somewhere in the file."""
    path = []
    value = content
    while isinstance(value, dict | list) and value and rng.random() < 0.8:
        key = rng.choice(list(value)) if isinstance(value, dict) else rng.randrange(len(value))
        path.append(key)
        value = value[key]
    if not path:
        return content
    parent = content
    for key in path[:-1]:
        parent = parent[key]
    replacement = rng.choice([None, 0, -1.5, True, "", "x", [], {}, [None], {"a": None}])
    if isinstance(parent, dict) and rng.random() < 0.3:
        parent.pop(path[-1])
    else:
        parent[path[-1]] = replacement
    return content
