"""Key rotation is safe: a dry run by default, and nothing re-encrypted until every running
process reports that it holds the newest key."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import select, text

from models.db import db, tenant_scope
from models.environments import Environment
from services import presence
from services.secrets import Keyring, new_key_entry


@pytest.fixture
def rotation(make_app, settings, factory, tenant, fake_n8n, extra_keys):
    """An environment whose API key is under the old key, and an app that has the new key
    first; yields (app, env_id, old entry, new entry)."""
    old = settings.encryption_keys[0]
    new = new_key_entry(f"new-{uuid.uuid4().hex[:6]}")
    extra_keys.append(new)
    env = factory.environment(tenant.id, fake_n8n)
    app = make_app(encryption_keys=(new, old), dramatiq_namespace=f"rotation-{uuid.uuid4().hex}")
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(
            text("UPDATE environments SET api_key_encrypted = :c WHERE id = :e"),
            {"c": Keyring.parse((old,)).encrypt(fake_n8n.api_key), "e": env.id},
        )
        db.commit()
    yield app, env.id, old, new


def _stored(app, tenant, env_id) -> str:
    with app.app_context(), tenant_scope(tenant.id):
        return db.scalar(select(Environment.api_key_encrypted).where(Environment.id == env_id))


def _reporter(app, kind: str, keys: tuple[str, ...]) -> presence.Reporter:
    settings = app.config["SETTINGS"].with_overrides(encryption_keys=keys)
    return presence.Reporter(kind, settings).start()


def test_the_default_is_a_dry_run(rotation, tenant):
    app, env_id, _, new = rotation
    before = _stored(app, tenant, env_id)
    result = app.test_cli_runner().invoke(args=["rotate-secrets"])
    assert result.exit_code == 0, result.output
    assert f"newest key: {new.split(':')[0]}" in result.output
    assert "dry run: nothing changed" in result.output
    assert _stored(app, tenant, env_id) == before


def test_apply_waits_until_every_running_process_holds_the_new_key(rotation, tenant):
    app, env_id, old, new = rotation
    kid = new.split(":")[0]
    stale = _reporter(app, "worker", (old,))
    current = _reporter(app, "web", (new, old))
    try:
        listing = app.test_cli_runner().invoke(args=["rotate-secrets"])
        assert f"worker {stale.report.host}:{stale.report.pid}" in listing.output
        assert "NOT READY" in listing.output and "ready" in listing.output
        refused = app.test_cli_runner().invoke(args=["rotate-secrets", "--apply"])
        assert refused.exit_code == 1
        assert f"do not hold key '{kid}' yet" in refused.output
        assert _stored(app, tenant, env_id).startswith("v1:" + old.split(":")[0] + ":")
    finally:
        stale.stop()  # the worker restarts with the new keys
    restarted = _reporter(app, "worker", (new, old))
    try:
        applied = app.test_cli_runner().invoke(args=["rotate-secrets", "--apply"])
    finally:
        restarted.stop()
        current.stop()
    assert applied.exit_code == 0, applied.output
    assert "secrets re-encrypted" in applied.output
    assert _stored(app, tenant, env_id).startswith(f"v1:{kid}:")


def test_a_running_worker_reports_its_key_ids(settings, worker):
    # A worker process another test killed may still show until its report expires (TTL_S).
    reports = [r for r in presence.running(settings) if r.kind == "worker" and r.pid == os.getpid()]
    assert len(reports) == 1
    assert reports[0].key_ids == tuple(e.split(":")[0] for e in settings.encryption_keys)
