"""Security headers on every response; no-store where a secret is shown; HSTS behind TLS."""

from __future__ import annotations

import pytest

from web.security_headers import ALWAYS


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/nothing-here", "/healthz", "/docs"])
def test_every_response_carries_the_headers(client, tenant, path):
    response = client.get(path, headers=tenant.viewer)
    for name, value in ALWAYS.items():
        assert response.headers[name] == value, (path, name)
    assert "Strict-Transport-Security" not in response.headers


def test_a_response_carrying_a_secret_is_never_stored(client, tenant):
    issued = client.post("/api/v1/tokens", json={"name": "ci"}, headers=tenant.viewer)
    assert issued.status_code == 201 and issued.json["token"]
    assert issued.headers["Cache-Control"] == "no-store"
    listed = client.get("/api/v1/tokens", headers=tenant.viewer)
    assert "no-store" not in listed.headers.get("Cache-Control", "")


def test_hsts_when_the_public_address_is_https(make_app):
    app = make_app(public_url="https://ops.example.com", hsts_max_age_s=600)
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    plain = make_app(public_url="http://ops.example.com").test_client().get("/healthz")
    assert "Strict-Transport-Security" not in plain.headers
