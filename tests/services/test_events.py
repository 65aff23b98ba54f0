"""Notification events: recorded with the change, once when deduplicated, per tenant."""

from __future__ import annotations

import uuid

import pytest

from models.db import db
from services import events


def _record(factory, tenant_id, *args, commit: bool = True, **kwargs) -> bool:
    def run():
        recorded = events.record(*args, **kwargs)
        if commit:
            db.commit()
        return recorded

    return factory.run_as(tenant_id, run)


def test_an_event_is_listed_newest_first_and_filtered(client, factory, tenant):
    env_id = uuid.uuid4()
    _record(factory, tenant.id, "drift.detected", resource_type="environment", resource_id=env_id)
    _record(factory, tenant.id, "deployment.completed", payload={"workflows": 3})
    listed = client.get("/api/v1/events", headers=tenant.viewer).json
    assert [e["event_type"] for e in listed] == ["deployment.completed", "drift.detected"]
    assert listed[0]["payload"] == {"workflows": 3}
    drift = client.get("/api/v1/events?event_prefix=drift.", headers=tenant.viewer).json
    assert [(e["resource_type"], e["resource_id"]) for e in drift] == [("environment", str(env_id))]
    one = client.get(f"/api/v1/events/{drift[0]['id']}", headers=tenant.viewer)
    assert one.status_code == 200 and one.json["event_type"] == "drift.detected"


def test_a_deduplicated_event_is_recorded_once(client, factory, tenant):
    key = f"ttl-warning:{uuid.uuid4()}"
    assert _record(factory, tenant.id, "drift.ttl_warning", dedupe_key=key) is True
    assert _record(factory, tenant.id, "drift.ttl_warning", dedupe_key=key) is False
    listed = client.get("/api/v1/events?event_type=drift.ttl_warning", headers=tenant.viewer)
    assert len(listed.json) == 1


def test_an_event_rolls_back_with_its_change(client, factory, tenant):
    _record(factory, tenant.id, "deployment.failed", commit=False)
    assert client.get("/api/v1/events", headers=tenant.viewer).json == []


def test_another_tenants_events_are_invisible(client, factory, tenant, other_tenant):
    _record(factory, other_tenant.id, "drift.detected")
    theirs = client.get("/api/v1/events", headers=other_tenant.viewer).json[0]["id"]
    assert client.get("/api/v1/events", headers=tenant.viewer).json == []
    mine = client.get(f"/api/v1/events/{theirs}", headers=tenant.viewer)
    missing = client.get(f"/api/v1/events/{uuid.uuid4()}", headers=tenant.viewer)
    assert mine.status_code == missing.status_code == 404
    assert mine.json == missing.json


@pytest.mark.parametrize("event_type", ["Drift.Detected", "drift", "drift..x", ""])
def test_a_malformed_event_type_is_refused(factory, tenant, event_type):
    with pytest.raises(ValueError, match="not an event type"):
        _record(factory, tenant.id, event_type)
