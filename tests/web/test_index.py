"""/ and /api/v1 point to the docs, the OpenAPI document and health; /docs needs no internet."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/", "/api/v1"])
def test_index_links_docs_openapi_and_health(client, path):
    response = client.get(path)
    assert response.status_code == 200
    links = response.json["links"]
    assert links["docs"] == "/docs" and links["openapi"] == "/openapi.json"
    assert links["health"] == "/healthz" and links["ready"] == "/readyz"
    for link in links.values():
        assert client.get(link).status_code in (200, 503), link


def test_docs_load_swagger_ui_from_the_app_itself(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "/docs/assets/swagger-ui.css" in page
    assert "http://" not in page and "https://" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        response = client.get(f"/docs/assets/{asset}")
        assert response.status_code == 200, asset
        assert len(response.get_data()) > 10_000
        assert response.cache_control.max_age == 86400
    assert client.get("/docs/assets/../../setup.cfg").status_code == 404
