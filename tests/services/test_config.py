"""Configuration comes from the environment, typed, with Heroku's URL forms accepted."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import dramatiq
import pytest

from jobs import core
from models.db import tenant_scope
from scripts import devstack
from services.config import Settings
from tests.jobs.helpers import read_job, start_job


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


def test_an_env_file_is_read_beneath_the_environment(tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text("DRAMATIQ_NAMESPACE='from-file'\nPORT=7000\nREDIS_URL='redis://r:1/2'\n")
    settings = Settings.from_env({"N8NOPS_ENV_FILE": str(env_file), "PORT": "8080"})
    assert settings.dramatiq_namespace == "from-file"
    assert settings.redis_url == "redis://r:1/2"
    assert settings.port == 8080  # the environment wins


def test_a_named_env_file_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="N8NOPS_ENV_FILE"):
        Settings.from_env({"N8NOPS_ENV_FILE": str(tmp_path / "missing.env")})
    assert Settings.from_env({"N8NOPS_ENV_FILE": ""}) == Settings.from_env({})


def test_the_dev_stack_hands_every_setting_to_later_commands(tmp_path):
    """`make run` writes what its processes got; a command in another shell reads it back
    and gets the same settings, the queue namespace included."""
    started_with = {
        "DATABASE_URL": "postgresql://n8nops_app@127.0.0.1:5544/n8nops",
        "MIGRATION_DATABASE_URL": "postgresql://n8nops_owner@127.0.0.1:5544/n8nops",
        "REDIS_URL": "unix:///tmp/x y/redis.sock",
        "DRAMATIQ_NAMESPACE": "team-a",
        "ENCRYPTION_KEYS": "dev-1:abc=",
        "ALLOW_PRIVATE_NETWORKS": "true",
        "PORT": "5001",
        "HOME": "/root",  # not a setting: not written
    }
    env_file = tmp_path / "dev.env"
    devstack.write_dev_env(started_with, env_file)
    assert "HOME" not in env_file.read_text()
    later = Settings.from_env({"N8NOPS_ENV_FILE": str(env_file)})
    assert later == Settings.from_env(started_with)
    assert later.dramatiq_namespace == "team-a"


def test_an_operator_command_in_another_shell_reaches_the_workers_queues(
    app, settings, tenant, tmp_path
):
    """The CLI rerun of the issue: started with nothing but the env file, its job's message
    lands in the namespace the workers read."""
    job_id = start_job(app, tenant.id)
    with app.app_context(), tenant_scope(tenant.id):
        core.cancel(job_id)
    env_file = tmp_path / "dev.env"
    devstack.write_dev_env(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "DRAMATIQ_NAMESPACE": settings.dramatiq_namespace,
            "ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        },
        env_file,
    )
    flask = Path(sys.executable).parent / "flask"
    done = subprocess.run(
        [str(flask), "--app", "web", "jobs", "rerun", "--tenant", tenant.slug, str(job_id)],
        env={"PATH": os.environ["PATH"], "N8NOPS_ENV_FILE": str(env_file)},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rerun = read_job(app, tenant.id, uuid.UUID(done.stdout.strip()))
    broker = dramatiq.get_broker()
    assert broker.client.hexists(f"{broker.namespace}:default.msgs", rerun.message_id)
