"""A revocation, a deactivation or a role change reaches another real process at once
(Redis pub/sub); without Redis, the principal cache's expiry still bounds the wait."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from services import broadcast, identity
from tests.web.gunicorn_process import get, gunicorn

#: Seconds another process may take to stop honouring a change: well under a second, and
#: far under the 5 s the cache would otherwise keep a principal.
PROPAGATION_S = 0.5


def _listeners(settings) -> int:
    with redis.Redis.from_url(settings.redis_url) as client:
        return dict(client.pubsub_numsub(broadcast.channel()))[broadcast.channel().encode()]


@pytest.fixture
def other_process(app, settings, tmp_path, tenant):
    """A gunicorn web process next to this one, on the same database and Redis."""
    with app.app_context():
        before = _listeners(settings)
    with gunicorn(settings, tmp_path, WEB_THREADS="1") as (base, _out):
        # Its first authentication starts its listener, whose subscription forgets what
        # was remembered before it: let that happen before the tests fill its cache.
        assert get(f"{base}/api/v1/me", tenant.admin)[0] == 200
        deadline = time.monotonic() + 10
        with app.app_context():
            while _listeners(settings) <= before:
                assert time.monotonic() < deadline, "the other process never subscribed"
                time.sleep(0.05)
        yield base


def _status_there(base, headers, path="/api/v1/me", method="GET"):
    body = b"{}" if method == "POST" else None
    headers = {**headers, "Content-Type": "application/json"}
    return get(f"{base}{path}", headers, method=method, body=body)[0]


def _until(status, base, headers, path="/api/v1/me", method="GET") -> float:
    """Seconds until ``base`` answers ``status`` (it had the old principal cached)."""
    started = time.monotonic()
    while _status_there(base, headers, path, method) != status:
        assert time.monotonic() - started < identity.PRINCIPAL_CACHE_S, "never changed"
        time.sleep(0.01)
    return time.monotonic() - started


def test_revoking_a_token_here_stops_it_there_at_once(client, tenant, other_process):
    token_id = client.get("/api/v1/tokens", headers=tenant.viewer).json[0]["id"]
    assert _status_there(other_process, tenant.viewer) == 200  # now cached there
    revoked = client.post(f"/api/v1/tokens/{token_id}/revoke", headers=tenant.viewer)
    assert revoked.status_code == 200
    assert _until(401, other_process, tenant.viewer) < PROPAGATION_S


def test_deactivating_a_user_here_stops_them_there_at_once(client, tenant, other_process):
    assert _status_there(other_process, tenant.developer) == 200
    user = tenant.user_ids["developer"]
    assert client.post(f"/api/v1/users/{user}/deactivate", headers=tenant.admin).status_code == 200
    assert _until(403, other_process, tenant.developer) < PROPAGATION_S


def test_a_role_change_here_applies_there_at_once(client, tenant, other_process):
    developer = tenant.user_ids["developer"]
    client.patch(f"/api/v1/users/{developer}", json={"role": "admin"}, headers=tenant.admin)
    # As an admin there: past the role check, refused for its empty body.
    assert _status_there(other_process, tenant.developer, "/api/v1/users", "POST") == 422
    demoted = client.patch(
        f"/api/v1/users/{developer}", json={"role": "viewer"}, headers=tenant.admin
    )
    assert demoted.status_code == 200
    seconds = _until(403, other_process, tenant.developer, "/api/v1/users", "POST")
    assert seconds < PROPAGATION_S


def test_without_redis_a_change_still_applies_and_says_why(make_app, tenant, caplog):
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    client = app.test_client()
    token_id = client.get("/api/v1/tokens", headers=tenant.viewer).json[0]["id"]
    with caplog.at_level(logging.WARNING, logger="services.broadcast"):
        revoked = client.post(f"/api/v1/tokens/{token_id}/revoke", headers=tenant.viewer)
    assert revoked.status_code == 200
    assert client.get("/api/v1/me", headers=tenant.viewer).status_code == 401
    assert "not broadcast" in caplog.text
