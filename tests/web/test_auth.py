"""Personal tokens and Supabase-compatible JWTs: what gets in and what is refused."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, update

from models.db import db, tenant_scope
from models.tenancy import ApiToken
from tests.conftest import JWT_SECRET


def _jwt(sub: str, *, secret=JWT_SECRET, aud="authenticated", exp_in=300):
    claims = {"sub": sub, "aud": aud, "exp": int(time.time()) + exp_in}
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture
def jwt_user(factory, tenant):
    sub = f"supabase-{tenant.slug}"
    factory.plan(tenant.id, "pro")
    factory.member(tenant.id, sub, role="developer")
    return sub


def _me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_personal_token_authenticates_as_its_user(client, tenant):
    response = client.get("/api/v1/me", headers=tenant.developer)
    assert response.status_code == 200
    body = response.json
    assert body["user"]["role"] == "developer"
    assert body["tenant"]["id"] == str(tenant.id)
    assert body["auth_method"] == "token"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer n8o_pat_not-a-real-token"},
        {"Authorization": "Bearer garbage"},
    ],
)
def test_missing_or_unknown_credentials_get_401_in_the_error_shape(client, headers):
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert set(response.json) >= {"code", "status", "error", "message"}
    assert response.json["code"] == 401


def test_revoked_token_is_refused(client, tenant):
    token_id = client.get("/api/v1/tokens", headers=tenant.viewer).json[0]["id"]
    assert (
        client.post(f"/api/v1/tokens/{token_id}/revoke", headers=tenant.viewer).status_code == 200
    )
    response = client.get("/api/v1/me", headers=tenant.viewer)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"


def test_expired_token_is_refused(app, client, tenant):
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(
            update(ApiToken)
            .where(ApiToken.user_id == tenant.user_ids["viewer"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.commit()
    response = client.get("/api/v1/me", headers=tenant.viewer)
    assert response.status_code == 401
    assert response.json["error"] == "token_expired"


def test_deactivated_user_is_refused(client, tenant):
    viewer = tenant.user_ids["viewer"]
    assert (
        client.post(f"/api/v1/users/{viewer}/deactivate", headers=tenant.admin).status_code == 200
    )
    response = client.get("/api/v1/me", headers=tenant.viewer)
    assert response.status_code == 403
    assert response.json["error"] == "user_inactive"


def test_token_is_stored_only_as_a_hash(app, client, tenant):
    created = client.post("/api/v1/tokens", json={"name": "ci"}, headers=tenant.admin).json
    secret = created["token"]
    assert secret.startswith("n8o_pat_")
    with app.app_context(), tenant_scope(tenant.id):
        stored = db.get(ApiToken, created["id"])
        assert secret not in (stored.token_hash, stored.display_prefix)
        assert len(stored.token_hash) == 64
    listed = client.get("/api/v1/tokens", headers=tenant.admin)
    assert secret not in listed.get_data(as_text=True)
    assert _me(client, secret).status_code == 200


def test_token_use_is_recorded_even_by_a_read(app, client, tenant):
    assert client.get("/api/v1/me", headers=tenant.viewer).status_code == 200
    with app.app_context(), tenant_scope(tenant.id):
        used = db.scalar(
            select(ApiToken.last_used_at).where(ApiToken.user_id == tenant.user_ids["viewer"])
        )
    assert used is not None


def test_jwt_signs_in_the_mapped_user(client, jwt_user, tenant):
    response = _me(client, _jwt(jwt_user))
    assert response.status_code == 200
    assert response.json["user"]["role"] == "developer"
    assert response.json["auth_method"] == "jwt"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"exp_in": -10}, "token_expired"),
        ({"aud": "someone-else"}, "invalid_token"),
        ({"secret": "a-different-secret-that-is-also-long-enough"}, "invalid_token"),
    ],
    ids=["expired", "wrong-audience", "wrong-signature"],
)
def test_bad_jwts_are_refused(client, jwt_user, kwargs, error):
    response = _me(client, _jwt(jwt_user, **kwargs))
    assert response.status_code == 401
    assert response.json["error"] == error


def test_jwt_with_alg_none_is_refused(client, jwt_user):
    token = jwt.encode(
        {"sub": jwt_user, "aud": "authenticated", "exp": int(time.time()) + 60},
        None,
        algorithm="none",
    )
    assert _me(client, token).status_code == 401


def test_jwt_for_an_unknown_subject_is_refused(client):
    response = _me(client, _jwt("nobody"))
    assert response.status_code == 401
    assert response.json["error"] == "unknown_subject"


@pytest.fixture(scope="module")
def jwks_server():
    """A JWKS endpoint on loopback, like Supabase's, serving one RSA public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "test-key", "alg": "RS256", "use": "sig"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def test_jwt_verified_against_a_jwks_url(make_app, jwks_server, factory, tenant):
    key, url = jwks_server
    app = make_app(
        supabase_jwks_url=url,
        supabase_jwt_algorithms=("RS256",),
        supabase_jwt_issuer="https://example.supabase.co/auth/v1",
    )
    sub = f"rsa-{tenant.slug}"
    factory.plan(tenant.id, "pro")
    factory.member(tenant.id, sub, role="viewer")
    claims = {
        "sub": sub,
        "aud": "authenticated",
        "exp": int(time.time()) + 60,
        "iss": "https://example.supabase.co/auth/v1",
    }
    good = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-key"})
    wrong_issuer = jwt.encode(
        {**claims, "iss": "https://evil.example"},
        key,
        algorithm="RS256",
        headers={"kid": "test-key"},
    )
    client = app.test_client()
    assert _me(client, good).status_code == 200
    assert _me(client, wrong_issuer).status_code == 401
    # An HS256 token signed with the old shared secret no longer gets in.
    assert _me(client, _jwt(sub)).status_code == 401


@pytest.fixture
def short_principal_cache(monkeypatch, client, tenant):
    from services import broadcast, identity

    # The broadcast listener starts with the first token: its subscribing (which forgets
    # every principal) must be over before a test relies on what is remembered.
    client.get("/api/v1/me", headers=tenant.admin)
    assert broadcast.wait_subscribed(5)
    monkeypatch.setattr(identity, "PRINCIPAL_CACHE_S", 0.3)
    identity.forget_principals()


@pytest.mark.usefixtures("short_principal_cache")
def test_a_revocation_elsewhere_takes_effect_within_the_cache_time(app, client, tenant):
    assert client.get("/api/v1/me", headers=tenant.viewer).status_code == 200
    # Another process revokes the token: this one may serve it from its cache a moment more.
    with app.app_context(), tenant_scope(tenant.id):
        db.execute(
            update(ApiToken)
            .where(ApiToken.user_id == tenant.user_ids["viewer"])
            .values(revoked_at=datetime.now(UTC))
        )
        db.commit()
    assert client.get("/api/v1/me", headers=tenant.viewer).status_code == 200
    time.sleep(0.4)
    assert client.get("/api/v1/me", headers=tenant.viewer).status_code == 401
