"""Answers recorded from a real n8n 1.123.81 (shared/n8n-samples/facts-1.123.81.json)."""

from __future__ import annotations

from typing import Any

#: GET /workflows/{id} of the seeded "Webhook + Set" workflow, exactly as n8n answered it.
REAL_WORKFLOW_1_123: dict[str, Any] = {
    "updatedAt": "2026-11-25T07:08:12.598Z",
    "createdAt": "2026-11-25T07:08:12.598Z",
    "id": "UDvGWK6kZl4I0TA7",
    "name": "Seed: Webhook + Set",
    "description": None,
    "active": True,
    "isArchived": False,
    "nodes": [
        {
            "id": "ce1d0f34-c5a1-414a-acc6-d0d251f2d7f5",
            "name": "Webhook",
            "type": "n8n-nodes-base.webhook",
            "typeVersion": 2,
            "position": [0, 0],
            "parameters": {"path": "seed-hook", "responseMode": "lastNode", "options": {}},
            "webhookId": "bf8e0aaa-4351-4a93-87d2-0cd8ac611ebf",
        },
        {
            "id": "c9207959-497d-4753-9408-3e2cd74015a1",
            "name": "Set",
            "type": "n8n-nodes-base.set",
            "typeVersion": 3.4,
            "position": [220, 0],
            "parameters": {
                "mode": "manual",
                "assignments": {
                    "assignments": [
                        {
                            "id": "f938e9ef-8aec-49ac-b311-50ed8fe31fc6",
                            "name": "greeting",
                            "value": "hello",
                            "type": "string",
                        },
                        {
                            "id": "824ce3ad-90ed-426f-a79e-84102dc80654",
                            "name": "n",
                            "value": "={{ $json.query.n }}",
                            "type": "string",
                        },
                    ]
                },
                "options": {},
            },
        },
    ],
    "connections": {"Webhook": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
    "settings": {
        "executionOrder": "v1",
        "callerPolicy": "workflowsFromSameOwner",
        "availableInMCP": False,
    },
    "staticData": None,
    "meta": None,
    "pinData": None,
    "versionId": "3b692025-c31b-45f7-a316-f74928bf09fd",
    "activeVersionId": "3b692025-c31b-45f7-a316-f74928bf09fd",
    "versionCounter": 3,
    "triggerCount": 1,
    "shared": [
        {
            "updatedAt": "2026-11-25T07:08:12.600Z",
            "createdAt": "2026-11-25T07:08:12.600Z",
            "role": "workflow:owner",
            "workflowId": "UDvGWK6kZl4I0TA7",
            "projectId": "sVq7yIJ15uDVh4P6",
            "project": {
                "updatedAt": "2026-11-25T07:08:12.128Z",
                "createdAt": "2026-11-25T07:08:07.148Z",
                "id": "sVq7yIJ15uDVh4P6",
                "name": "Test Owner <owner@example.com>",
                "type": "personal",
                "icon": None,
                "description": None,
                "projectRelations": [
                    {
                        "updatedAt": "2026-11-25T07:08:07.148Z",
                        "createdAt": "2026-11-25T07:08:07.148Z",
                        "userId": "baf53d86-213f-4e79-bcc1-2a6e4b99461c",
                        "projectId": "sVq7yIJ15uDVh4P6",
                        "user": {
                            "updatedAt": "2026-11-25T07:08:13.550Z",
                            "createdAt": "2026-11-25T07:08:06.848Z",
                            "id": "baf53d86-213f-4e79-bcc1-2a6e4b99461c",
                            "email": "owner@example.com",
                            "firstName": "Test",
                            "lastName": "Owner",
                            "personalizationAnswers": None,
                            "settings": {
                                "userActivated": True,
                                "firstSuccessfulWorkflowId": "smitf4ebJ1IDdmBT",
                                "userActivatedAt": 1795590493489,
                            },
                            "disabled": False,
                            "mfaEnabled": False,
                            "lastActiveAt": "2026-11-25",
                            "isPending": False,
                        },
                    }
                ],
            },
        }
    ],
    "tags": [
        {
            "updatedAt": "2026-11-25T07:08:12.499Z",
            "createdAt": "2026-11-25T07:08:12.499Z",
            "id": "pJBXdgE9TueEuukb",
            "name": "seed",
        }
    ],
    "activeVersion": {
        "updatedAt": "2026-11-25T07:08:12.604Z",
        "createdAt": "2026-11-25T07:08:12.604Z",
        "versionId": "3b692025-c31b-45f7-a316-f74928bf09fd",
        "workflowId": "UDvGWK6kZl4I0TA7",
        "nodes": [
            {
                "id": "ce1d0f34-c5a1-414a-acc6-d0d251f2d7f5",
                "name": "Webhook",
                "type": "n8n-nodes-base.webhook",
                "typeVersion": 2,
                "position": [0, 0],
                "parameters": {"path": "seed-hook", "responseMode": "lastNode", "options": {}},
                "webhookId": "bf8e0aaa-4351-4a93-87d2-0cd8ac611ebf",
            },
            {
                "id": "c9207959-497d-4753-9408-3e2cd74015a1",
                "name": "Set",
                "type": "n8n-nodes-base.set",
                "typeVersion": 3.4,
                "position": [220, 0],
                "parameters": {
                    "mode": "manual",
                    "assignments": {
                        "assignments": [
                            {
                                "id": "f938e9ef-8aec-49ac-b311-50ed8fe31fc6",
                                "name": "greeting",
                                "value": "hello",
                                "type": "string",
                            },
                            {
                                "id": "824ce3ad-90ed-426f-a79e-84102dc80654",
                                "name": "n",
                                "value": "={{ $json.query.n }}",
                                "type": "string",
                            },
                        ]
                    },
                    "options": {},
                },
            },
        ],
        "connections": {"Webhook": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
        "authors": "Test Owner",
        "name": None,
        "description": None,
    },
}
