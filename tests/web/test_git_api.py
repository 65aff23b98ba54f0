"""An environment's Git through the API: configuration with write-only secrets, the
connection test, attaching the embedded repository to a remote; roles, tenants, audit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from models.audit import AuditLog
from models.db import db, tenant_scope
from models.environments import Environment
from services import config, environments, git
from services.git import ssh_keys
from services.secrets import Keyring, new_key_entry
from tests.git.server import READ_TOKEN, WRITE_TOKEN
from tests.git.server import git as run_git
from tests.jobs.helpers import wait_for


@pytest.fixture
def repo_url(git_server):
    name = f"flows-{uuid.uuid4().hex[:8]}"
    git_server.create_repository(name)
    return git_server.url(name)


GITHUB = "https://github.com/a/b.git"


def _url(env) -> str:
    return f"/api/v1/environments/{env.id}/git"


def _put(client, tenant, env, role="admin", **body):
    return client.put(_url(env), json=body, headers=tenant.headers(role))


def _stored(app, tenant, env) -> Environment:
    with app.app_context(), tenant_scope(tenant.id):
        return db.get(Environment, env.id)


def _audit(app, tenant, env) -> list[AuditLog]:
    with app.app_context(), tenant_scope(tenant.id):
        return db.scalars(
            select(AuditLog)
            .where(AuditLog.resource_id == str(env.id), AuditLog.action.like("environment.git%"))
            .order_by(AuditLog.created_at)
        ).all()


def test_a_new_environment_uses_the_embedded_repository(client, tenant, environment):
    body = client.get(_url(environment), headers=tenant.viewer).json
    assert body["repository_url"] is None and body["uses_embedded_repository"] is True
    assert body["embedded_available"] is True
    assert (body["branch"], body["auth_method"], body["has_token"]) == ("main", "none", False)
    assert body["folder"] == environment.name  # "env-xxxxxxxx": its name as a slug


def test_configure_a_remote_with_a_token(app, client, tenant, environment, repo_url):
    response = _put(
        client, tenant, environment, repository_url=repo_url, token=WRITE_TOKEN, folder="/dev/"
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["repository_url"] == repo_url and body["has_token"] is True
    assert (body["auth_method"], body["folder"], body["branch"]) == ("token", "dev", "main")
    assert (body["provider"], body["default_username"]) == ("generic", "git")
    assert WRITE_TOKEN not in response.get_data(as_text=True)
    stored = _stored(app, tenant, environment)
    assert stored.github_token_encrypted.startswith("v1:test-1:")
    assert WRITE_TOKEN not in stored.github_token_encrypted
    (entry,) = _audit(app, tenant, environment)
    assert entry.action == "environment.git.update"
    assert entry.old_value["token_set"] is False and entry.new_value["token_set"] is True
    assert entry.meta["token_changed"] is True
    assert WRITE_TOKEN not in str(entry.old_value) + str(entry.new_value) + str(entry.meta)


def test_secrets_are_kept_cleared_or_dropped_with_the_host(
    app, client, tenant, environment, repo_url, git_server
):
    _put(client, tenant, environment, repository_url=repo_url, token=WRITE_TOKEN)
    kept = _put(client, tenant, environment, repository_url=repo_url, branch="release")
    assert kept.json["has_token"] is True and kept.json["branch"] == "release"
    cleared = _put(client, tenant, environment, repository_url=repo_url, token=None)
    assert cleared.json["has_token"] is False
    _put(client, tenant, environment, repository_url=repo_url, token=WRITE_TOKEN)
    elsewhere = repo_url.replace("127.0.0.1", "localhost")
    moved = _put(client, tenant, environment, repository_url=elsewhere)
    assert moved.json["has_token"] is False  # a token is never sent to another host
    assert _stored(app, tenant, environment).github_token_encrypted is None


def test_configure_ssh_with_a_generated_deploy_key(app, client, tenant, environment):
    known = "git.acme.io ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9ok"
    response = _put(
        client,
        tenant,
        environment,
        repository_url="git@github.com:acme/flows.git",
        generate_ssh_key=True,
        provider="github",
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["auth_method"] == "ssh_key" and body["ssh_public_key"].startswith("ssh-ed25519 ")
    assert body["ssh_key_fingerprint"] == ssh_keys.fingerprint(body["ssh_public_key"])
    assert "PRIVATE" not in response.get_data(as_text=True)
    stored = _stored(app, tenant, environment)
    assert "PRIVATE" not in stored.git_ssh_key_encrypted
    again = _put(
        client,
        tenant,
        environment,
        repository_url="git@github.com:acme/other.git",
        known_hosts=known,
    )
    assert again.json["ssh_public_key"] == body["ssh_public_key"]  # same host: key kept
    assert again.json["known_hosts"] == known + "\n"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"repository_url": "file:///etc/passwd"}, 400, "invalid_git_url"),
        ({"repository_url": "ext::sh -c id"}, 400, "invalid_git_url"),
        ({"repository_url": "https://u:p@github.com/a/b.git"}, 400, "invalid_git_url"),
        ({"repository_url": "https://169.254.169.254/a.git"}, 400, "unsafe_url"),
        ({"repository_url": "git@github.com:a/b.git"}, 400, "git_ssh_key_required"),
        (
            {"repository_url": "git@github.com:a/b.git", "token": "ghp_x"},
            400,
            "conflicting_git_credentials",
        ),
        (
            {"repository_url": "https://github.com/a/b.git", "ssh_private_key": "x"},
            400,
            "conflicting_git_credentials",
        ),
        (
            {"repository_url": "git@github.com:a/b.git", "ssh_private_key": "nope"},
            400,
            "invalid_ssh_key",
        ),
        (
            {"repository_url": "git@github.com:a/b.git", "generate_ssh_key": True,
             "known_hosts": "junk"},
            400,
            "invalid_known_hosts",
        ),
        ({"repository_url": None, "token": "ghp_x"}, 400, "conflicting_git_credentials"),
        ({"repository_url": None, "folder": "../up"}, 400, "invalid_git_folder"),
        ({"repository_url": GITHUB, "branch": "a..b"}, 400, "invalid_git_branch"),
        ({"repository_url": GITHUB, "token": "two words"}, 400, "invalid_input"),
        ({"repository_url": GITHUB, "provider": "svn"}, 422, "unprocessable_entity"),
        ({"branch": "main"}, 422, "unprocessable_entity"),
    ],
)  # fmt: skip
def test_bad_configuration_is_refused_and_changes_nothing(
    app, client, tenant, environment, body, status, error
):
    response = _put(client, tenant, environment, **body)
    assert (response.status_code, response.json["error"]) == (status, error), response.json
    stored = _stored(app, tenant, environment)
    assert stored.github_repo_url is None and stored.github_token_encrypted is None
    assert _audit(app, tenant, environment) == []


def test_a_private_address_is_refused_unless_allowed(
    client, tenant, environment, repo_url, settings
):
    config.configure(settings.with_overrides(allow_private_networks=False))
    try:
        response = _put(client, tenant, environment, repository_url=repo_url, token=WRITE_TOKEN)
    finally:
        config.configure(settings)
    assert response.status_code == 400
    assert response.json["error"] in ("invalid_git_url", "unsafe_url")


def test_without_embedded_git_a_remote_is_required(client, tenant, environment, settings):
    config.configure(settings.with_overrides(embedded_git=False))
    try:
        body = client.get(_url(environment), headers=tenant.viewer).json
        response = _put(client, tenant, environment, repository_url=None)
        check = client.post(f"{_url(environment)}/test", headers=tenant.developer).json
    finally:
        config.configure(settings)
    assert body["embedded_available"] is False
    assert (response.status_code, response.json["error"]) == (409, "git_remote_required")
    assert "PUT /api/v1/environments/{id}/git" in response.json["message"]
    assert (check["ok"], check["status"]) == (False, "remote_required")


def test_the_connection_test_says_what_is_wrong(client, tenant, environment, repo_url):
    embedded = client.post(f"{_url(environment)}/test", headers=tenant.developer).json
    assert (embedded["ok"], embedded["status"]) == (True, "embedded")
    _put(client, tenant, environment, repository_url=repo_url, token=WRITE_TOKEN)
    ok = client.post(f"{_url(environment)}/test", headers=tenant.developer).json
    assert (ok["ok"], ok["status"], ok["writable"]) == (True, "empty_repository", True)
    _put(client, tenant, environment, repository_url=repo_url, token=READ_TOKEN)
    read_only = client.post(f"{_url(environment)}/test", headers=tenant.developer).json
    assert (read_only["ok"], read_only["status"]) == (False, "no_write_access")
    _put(client, tenant, environment, repository_url=repo_url, token="ghp_wrong")
    wrong = client.post(f"{_url(environment)}/test", headers=tenant.developer)
    assert (wrong.json["ok"], wrong.json["status"]) == (False, "auth_failed")
    assert "ghp_wrong" not in wrong.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "suffix", "role"),
    [("put", "", "developer"), ("post", "/test", "viewer"), ("post", "/attach", "developer")],
)
def test_roles(client, tenant, environment, method, suffix, role):
    response = getattr(client, method)(
        _url(environment) + suffix,
        json={"repository_url": "https://github.com/a/b.git"},
        headers=tenant.headers(role),
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("put", "", {"repository_url": None}),
        ("post", "/test", None),
        ("post", "/attach", {"repository_url": "https://github.com/a/b.git"}),
    ],
)
def test_another_tenants_environment_is_a_404(
    client, tenant, other_tenant, environment, method, suffix, body
):
    theirs = getattr(client, method)(
        _url(environment) + suffix, json=body, headers=other_tenant.admin
    )
    missing = getattr(client, method)(
        f"/api/v1/environments/{uuid.uuid4()}/git{suffix}", json=body, headers=other_tenant.admin
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json == missing.json


def _commit_as(factory, tenant, env, changes):
    def commit():
        target = git.target_for(environments.get(env.id))
        return git.commit_changes(target, changes=changes, message="seed", operation="test")

    return factory.run_as(tenant.id, commit)


def test_attach_pushes_the_embedded_history_then_uses_the_remote(
    app, client, factory, tenant, fake_n8n, environment, repo_url, git_server, worker
):
    second = factory.environment(tenant.id, fake_n8n, name="Staging EU")
    first_sha = _commit_as(factory, tenant, environment, {f"{environment.name}/a.json": b"1"}).sha
    last_sha = _commit_as(factory, tenant, second, {"staging-eu/b.json": b"2"}).sha

    response = client.post(
        f"{_url(environment)}/attach",
        json={"repository_url": repo_url, "token": WRITE_TOKEN, "branch": "main"},
        headers=tenant.admin,
    )
    assert response.status_code == 202, response.json
    job = wait_for(app, tenant.id, uuid.UUID(response.json["id"]), timeout=30)
    assert job.status == "completed", job.error_message
    assert job.result["environments"] == 2 and job.result["pushed"] == last_sha

    served = git_server.root / repo_url.rsplit("/", 1)[1]
    assert run_git("-C", str(served), "rev-list", "main").split() == [last_sha, first_sha]
    for env, folder in ((environment, environment.name), (second, "staging-eu")):
        body = client.get(_url(env), headers=tenant.viewer).json
        assert (body["repository_url"], body["folder"], body["attach_job_id"]) == (
            repo_url,
            folder,
            None,
        )
        assert body["has_token"] is True
    # Work continues on the remote, on top of the moved history.
    after = _commit_as(factory, tenant, second, {"staging-eu/c.json": b"3"})
    assert after.parent == last_sha
    again = client.post(
        f"{_url(environment)}/attach", json={"repository_url": repo_url}, headers=tenant.admin
    )
    assert (again.status_code, again.json["error"]) == (409, "git_not_embedded")
    actions = [a.action for a in _audit(app, tenant, environment)]
    assert actions == ["environment.git.attach"]


def test_git_waits_while_attaching_and_a_non_empty_remote_is_refused(
    app, client, factory, tenant, environment, repo_url, git_server, worker
):
    from tests.git.server import commit_directly

    _commit_as(factory, tenant, environment, {"x/a.json": b"1"})
    commit_directly(git_server.root / repo_url.rsplit("/", 1)[1], "main", {"r": "x"}, "theirs")
    response = client.post(
        f"{_url(environment)}/attach",
        json={"repository_url": repo_url, "token": WRITE_TOKEN},
        headers=tenant.admin,
    )
    job = wait_for(app, tenant.id, uuid.UUID(response.json["id"]), timeout=30)
    assert job.status == "failed" and "already has commits" in job.error_message
    assert job.attempt == 1  # refused for good, not retried
    body = client.get(_url(environment), headers=tenant.viewer).json
    assert body["attach_job_id"] == str(job.id)
    with pytest.raises(git.GitAttachPending) as caught:
        factory.run_as(tenant.id, lambda: git.target_for(environments.get(environment.id)))
    assert "failed" in caught.value.message
    # Configuring Git again ends the wait (here: back to the embedded repository).
    assert _put(client, tenant, environment, repository_url=None).json["attach_job_id"] is None


def test_attach_needs_a_url_and_an_embedded_environment(client, tenant, environment, repo_url):
    empty = client.post(
        f"{_url(environment)}/attach", json={"repository_url": ""}, headers=tenant.admin
    )
    assert empty.status_code in (400, 422)
    _put(client, tenant, environment, repository_url=repo_url, token=WRITE_TOKEN)
    response = client.post(
        f"{_url(environment)}/attach", json={"repository_url": repo_url}, headers=tenant.admin
    )
    assert (response.status_code, response.json["error"]) == (409, "git_not_embedded")


def test_rotating_keys_re_encrypts_the_git_token_and_deploy_key(
    make_app, settings, tenant, fake_n8n, extra_keys
):
    extra_keys.append(new_key_entry("test-2"))
    # A namespace of its own: rotation waits for the processes reporting there.
    app = make_app(
        encryption_keys=(extra_keys[0], settings.encryption_keys[0]),
        dramatiq_namespace=f"rotate-{uuid.uuid4()}",
    )
    client = app.test_client()
    created = client.post(
        "/api/v1/environments",
        json={"name": "rot", "url": fake_n8n.url, "api_key": fake_n8n.api_key,
              "environment_class": "dev"},
        headers=tenant.admin,
    ).json  # fmt: skip
    env_id = uuid.UUID(created["id"])
    old = Keyring.parse((settings.encryption_keys[0],))
    key = ssh_keys.generate_private_key()
    with app.app_context(), tenant_scope(tenant.id):
        env = db.get(Environment, env_id)
        env.github_repo_url = "git@github.com:acme/flows.git"
        env.git_ssh_key_encrypted = old.encrypt(key)
        db.commit()
    result = app.test_cli_runner().invoke(args=["rotate-secrets", "--apply"])
    assert result.exit_code == 0, result.output
    with app.app_context(), tenant_scope(tenant.id):
        env = db.get(Environment, env_id)
        assert env.git_ssh_key_encrypted.startswith("v1:test-2:")
        assert git.target_for(env).credentials.ssh_key == key


def test_a_url_stored_by_another_path_is_shown_and_can_be_replaced(
    app, client, tenant, environment
):
    with app.app_context(), tenant_scope(tenant.id):
        env = db.get(Environment, environment.id)
        env.github_repo_url = "https://github.com/a b"  # the environment PATCH does not check
        env.github_token_encrypted = Keyring.parse(app.config["SETTINGS"].encryption_keys).encrypt(
            "ghp_old"
        )
        db.commit()
    shown = client.get(_url(environment), headers=tenant.viewer).json
    assert (shown["repository_url"], shown["uses_embedded_repository"]) == (
        "https://github.com/a b",
        False,
    )
    fixed = _put(client, tenant, environment, repository_url=GITHUB)
    assert fixed.status_code == 200 and fixed.json["has_token"] is False
