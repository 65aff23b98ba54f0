"""The API base: one error shape, body limits, OpenAPI, docs, probes."""

from __future__ import annotations

ERROR_KEYS = {"code", "status", "error", "message"}


def test_unknown_route_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert set(response.json) >= ERROR_KEYS
    assert response.json["error"] == "not_found"


def test_wrong_method_is_a_json_405(client, tenant):
    response = client.delete("/api/v1/me", headers=tenant.admin)
    assert response.status_code == 405
    assert set(response.json) >= ERROR_KEYS


def test_oversized_body_is_a_json_413(make_app, tenant):
    app = make_app(max_content_length=1024)
    response = app.test_client().post(
        "/api/v1/tokens", json={"name": "x" * 5000}, headers=tenant.admin
    )
    assert response.status_code == 413
    assert response.json["error"] == "request_entity_too_large"


def test_malformed_json_is_a_4xx_in_the_error_shape(client, tenant):
    response = client.post(
        "/api/v1/tokens",
        data="{not json",
        headers={**tenant.admin, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert set(response.json) >= ERROR_KEYS


def test_unexpected_error_is_a_json_500_without_internals(make_app, tenant):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert set(response.json) >= ERROR_KEYS
    assert "secret internals" not in response.get_data(as_text=True)


def test_openapi_and_docs_are_served(client):
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json["openapi"].startswith("3.")
    assert "/api/v1/users" in spec.json["paths"]
    assert spec.json["paths"]["/api/v1/me"]["get"]["summary"]
    assert "bearerAuth" in spec.json["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200


def test_healthz_is_up(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_checks_database_redis_migrations_and_keys(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok", "encryption_keys": "ok"}


def test_readyz_reports_a_dependency_that_is_down(make_app):
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"].startswith("error")
    assert response.json["checks"]["database"] == "ok"
