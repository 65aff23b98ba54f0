"""What every request must be, checked once for all endpoints: storable text, JSON bodies
that say and are JSON, declared query parameters only, path ids that are ids."""

from __future__ import annotations

import uuid

import pytest

from web.request_guard import UNSTORABLE_MESSAGE


def _fields(response, location: str) -> dict:
    assert response.status_code == 422, response.json
    return response.json["details"]["fields"][location]


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"])
def test_a_nul_or_lone_surrogate_in_a_body_is_a_422_naming_the_field(client, tenant, bad):
    body = {"email": "x@example.com", "role": "viewer", "name": bad}
    response = client.post("/api/v1/users", json=body, headers=tenant.admin)
    assert _fields(response, "json") == {"name": [UNSTORABLE_MESSAGE]}
    listed = client.get("/api/v1/users", headers=tenant.admin).json
    assert "x@example.com" not in {user["email"] for user in listed}


def test_nested_strings_and_keys_are_checked_too(client, tenant):
    response = client.post(
        "/api/v1/jobs/rerun", json={"status": ["failed", "b\x00d"]}, headers=tenant.admin
    )
    assert _fields(response, "json") == {"status.1": [UNSTORABLE_MESSAGE]}


def test_a_nul_in_a_query_parameter_is_a_422_naming_it(client, tenant):
    response = client.get("/api/v1/users?role=a%00b", headers=tenant.admin)
    assert _fields(response, "query") == {"role": [UNSTORABLE_MESSAGE]}


def test_a_nul_in_a_header_is_a_422_naming_it(client, tenant):
    response = client.post(
        "/api/v1/jobs/healthcheck", headers={**tenant.admin, "Idempotency-Key": "k\x00"}
    )
    assert _fields(response, "headers") == {"Idempotency-Key": [UNSTORABLE_MESSAGE]}


def test_a_nul_in_a_path_segment_is_a_422(client, tenant):
    response = client.put(
        "/api/v1/workflow-policy/dev%00/refresh", json={"enabled": True}, headers=tenant.admin
    )
    assert _fields(response, "path") == {"environment_class": [UNSTORABLE_MESSAGE]}


def _post_raw(client, tenant, data: str, content_type: str):
    headers = {**tenant.admin, "Content-Type": content_type}
    return client.post("/api/v1/tokens", data=data, headers=headers)


def test_a_json_body_without_its_content_type_is_a_415_saying_so(client, tenant):
    response = _post_raw(client, tenant, '{"name": "ci"}', "text/plain")
    assert response.status_code == 415
    assert response.json["error"] == "unsupported_media_type"
    assert "Content-Type: application/json" in response.json["message"]


def test_malformed_json_is_a_400_in_our_words(client, tenant):
    response = _post_raw(client, tenant, '{"name": ', "application/json")
    assert response.status_code == 400
    assert response.json["message"].startswith("The body is not valid JSON")


def test_a_non_uuid_path_id_is_the_404_of_a_missing_object(client, tenant):
    missing = client.get(f"/api/v1/environments/{uuid.uuid4()}", headers=tenant.viewer)
    for bad in ("not-a-uuid", "1", "%20", "0" * 40):
        malformed = client.get(f"/api/v1/environments/{bad}", headers=tenant.viewer)
        assert malformed.status_code == missing.status_code == 404
        assert malformed.json == missing.json


def test_unknown_query_parameters_are_a_422(client, tenant):
    response = client.get("/api/v1/environments?limit=5&colour=blue", headers=tenant.viewer)
    assert _fields(response, "query") == {"colour": ["Unknown parameter."]}
    on_one = client.get(f"/api/v1/jobs/{uuid.uuid4()}?verbose=1", headers=tenant.viewer)
    assert _fields(on_one, "query") == {"verbose": ["Unknown parameter."]}
    assert client.get("/api/v1/environments?limit=5", headers=tenant.viewer).status_code == 200
