"""Configuration comes from the environment, typed, with Heroku's URL forms accepted."""

from __future__ import annotations

from services.config import Settings


def test_heroku_postgres_url_selects_psycopg3():
    settings = Settings.from_env({"DATABASE_URL": "postgres://u:p@db.example:5432/d"})
    assert settings.database_url == "postgresql+psycopg://u:p@db.example:5432/d"
    # Without its own URL, migrations use the same one.
    assert settings.migration_database_url == settings.database_url


def test_values_are_typed():
    settings = Settings.from_env(
        {
            "PORT": "8080",
            "ALLOW_PRIVATE_NETWORKS": "true",
            "SUPABASE_JWT_ALGORITHMS": "RS256, ES256",
            "REDIS_URL": "rediss://:secret@redis.example:6380",
            "MAX_CONTENT_LENGTH": "1024",
        }
    )
    assert settings.port == 8080
    assert settings.allow_private_networks is True
    assert settings.supabase_jwt_algorithms == ("RS256", "ES256")
    assert settings.redis_url == "rediss://:secret@redis.example:6380"
    assert settings.max_content_length == 1024


def test_defaults_work_on_a_developer_machine():
    settings = Settings.from_env({})
    assert settings.database_url.startswith("postgresql+psycopg://n8nops_app@")
    assert settings.allow_private_networks is False
    assert settings.supabase_jwt_audience == "authenticated"
