"""A database connection lost under the app: 503 in the error shape, and the next request
is served on a new connection (no pre-ping on the hot path, so this is how loss shows)."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from services.config import normalize_database_url


def _terminate_app_connections(database) -> int:
    admin = create_engine(normalize_database_url(database["admin"]), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database["name"]},
        ).scalar_one()
    admin.dispose()
    return ended


def test_a_dropped_connection_is_a_503_then_the_next_request_is_served(client, tenant, database):
    assert client.get("/api/v1/environments", headers=tenant.viewer).status_code == 200
    assert _terminate_app_connections(database) >= 1

    lost = client.get("/api/v1/environments", headers=tenant.viewer)
    assert lost.status_code == 503
    assert lost.json["error"] == "database_unavailable"
    assert lost.headers["Retry-After"] == "2"
    assert "FATAL" not in lost.get_data(as_text=True)

    assert client.get("/api/v1/environments", headers=tenant.viewer).status_code == 200
