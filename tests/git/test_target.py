"""From an environment row to a GitTarget: remote or embedded, folder, credentials."""

from __future__ import annotations

import pytest

from services import environments, git
from services.git.target import check_folder, slug
from tests.git.server import WRITE_TOKEN


def _target(factory, tenant, env):
    return factory.run_as(tenant.id, lambda: git.target_for(environments.get(env.id)))


def test_the_default_folder_is_stored_at_first_use_and_survives_a_rename(factory, tenant, fake_n8n):
    env = factory.environment(tenant.id, fake_n8n, name="Production EU")
    assert _target(factory, tenant, env).folder == "production-eu"
    factory.run_as(tenant.id, environments.update_environment, env.id, name="Prod (renamed)")
    target = _target(factory, tenant, env)
    assert (target.folder, target.is_embedded, target.branch) == ("production-eu", True, "main")


def test_two_environments_never_share_a_default_folder(factory, tenant, fake_n8n):
    first = factory.environment(tenant.id, fake_n8n, name="Prod EU")
    second = factory.environment(tenant.id, fake_n8n, name="prod-eu")
    assert _target(factory, tenant, first).folder == "prod-eu"
    assert _target(factory, tenant, second).folder == f"prod-eu-{second.id.hex[:8]}"


def test_a_configured_remote_with_its_decrypted_token(client, factory, tenant, environment):
    client.put(
        f"/api/v1/environments/{environment.id}/git",
        json={
            "repository_url": "https://gitlab.com/acme/flows.git",
            "token": WRITE_TOKEN,
            "branch": "prod",
            "folder": "workflows/prod",
            "username": "gitlab+deploy-token-1",
        },
        headers=tenant.admin,
    )
    target = _target(factory, tenant, environment)
    assert (target.repository, target.branch, target.folder) == (
        "https://gitlab.com/acme/flows.git",
        "prod",
        "workflows/prod",
    )
    assert target.credentials.token == WRITE_TOKEN
    assert target.credentials.basic_auth("gitlab.com") == f"gitlab+deploy-token-1:{WRITE_TOKEN}"
    assert WRITE_TOKEN not in repr(target)


def test_without_embedded_git_an_environment_without_remote_is_refused(
    factory, tenant, environment, settings
):
    from services import config

    config.configure(settings.with_overrides(embedded_git=False))
    try:
        with pytest.raises(git.GitRemoteRequired) as caught:
            _target(factory, tenant, environment)
    finally:
        config.configure(settings)
    assert caught.value.status == 409 and "remote" in caught.value.message


def test_folder_and_slug_rules():
    assert check_folder(" /workflows/dev/ ") == "workflows/dev"
    assert slug("  Prod — EU #1 ") == "prod-eu-1" and slug("!!!") == "environment"
