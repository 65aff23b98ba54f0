"""Failed authentication is rate-limited per client address and per token prefix (Redis)."""

from __future__ import annotations

import time
import uuid

import pytest

from services.identity import new_token
from web.throttle import CLEAN_READING_S, AuthThrottle


@pytest.fixture
def strict_app(make_app):
    """An app allowing 3 failures per address and 2 per credential prefix a minute, counted
    in a namespace of its own."""
    return make_app(
        auth_failures_per_address="3/minute",
        auth_failures_per_credential="2/minute",
        dramatiq_namespace=f"throttle-{uuid.uuid4().hex}",
    )


@pytest.fixture
def strict(strict_app):
    return strict_app.test_client()


def _me(client, token, address):
    return client.get(
        "/api/v1/me",
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_an_address_that_keeps_failing_gets_429_with_retry_after(strict, tenant):
    bad = [new_token() for _ in range(3)]  # three prefixes: only the address limit binds
    assert [_me(strict, token, "198.51.100.7").status_code for token in bad] == [401] * 3
    limited = _me(strict, new_token(), "198.51.100.7")
    assert limited.status_code == 429
    assert limited.json["error"] == "rate_limited"
    assert limited.json["details"]["limited_by"] == "address"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Even a good token waits from that address; other addresses are not affected.
    good = tenant.viewer["Authorization"].split()[1]
    assert _me(strict, good, "198.51.100.7").status_code == 429
    assert _me(strict, good, "198.51.100.8").status_code == 200


def test_guessing_one_tokens_prefix_from_many_addresses_gets_429(strict, tenant):
    good = tenant.viewer["Authorization"].split()[1]
    guesses = [good[:12] + new_token()[12:] for _ in range(2)]
    for n, guess in enumerate(guesses):
        assert _me(strict, guess, f"203.0.113.{n}").status_code == 401
    limited = _me(strict, good[:12] + new_token()[12:], "203.0.113.99")
    assert limited.status_code == 429
    assert limited.json["details"]["limited_by"] == "credential"
    assert "Retry-After" in limited.headers


def test_good_credentials_and_missing_ones_do_not_count(strict, tenant):
    good = tenant.viewer["Authorization"].split()[1]
    for _ in range(5):
        assert _me(strict, good, "192.0.2.1").status_code == 200
        no_token = strict.get("/api/v1/me", environ_base={"REMOTE_ADDR": "192.0.2.1"})
        assert no_token.status_code == 401
    assert _me(strict, new_token(), "192.0.2.1").status_code == 401


def test_a_verified_token_is_refused_as_soon_as_this_process_counts_failures(strict, tenant):
    good = tenant.viewer["Authorization"].split()[1]
    assert _me(strict, good, "192.0.2.20").status_code == 200  # verified, nothing failed
    assert [_me(strict, new_token(), "192.0.2.20").status_code for _ in range(3)] == [401] * 3
    assert _me(strict, good, "192.0.2.20").status_code == 429


def test_failures_another_process_counts_reach_a_verified_token_within_a_second(strict_app, tenant):
    client, good = strict_app.test_client(), tenant.viewer["Authorization"].split()[1]
    assert _me(client, good, "192.0.2.30").status_code == 200
    elsewhere = AuthThrottle(strict_app.config["SETTINGS"])  # another process's, same Redis
    for _ in range(3):
        elsewhere.failed("192.0.2.30", new_token())
    time.sleep(CLEAN_READING_S)
    assert _me(client, good, "192.0.2.30").status_code == 429
    # A guess, never verified, is checked in Redis at once.
    assert _me(client, new_token(), "192.0.2.30").status_code == 429


def test_without_redis_authentication_still_works_unthrottled(make_app, tenant):
    client = make_app(
        redis_url="redis://127.0.0.1:1/0", auth_failures_per_address="1/minute"
    ).test_client()
    for _ in range(3):
        assert _me(client, new_token(), "192.0.2.50").status_code == 401
    assert client.get("/api/v1/me", headers=tenant.viewer).status_code == 200
