"""A planted Git token and deploy key never show up in API responses, logs, job rows, audit
values, stored rows, broker messages, files on disk or any git command line, through
success and failure alike."""

from __future__ import annotations

import base64
import logging
import socket
import subprocess
import uuid

import dramatiq
from sqlalchemy import text

from models.db import db, tenant_scope
from services import environments, git
from services.git import command, ssh_keys, store
from tests.git.server import GitHttpServer
from tests.jobs.helpers import wait_for

PLANTED = f"ghp_PLANTED{uuid.uuid4().hex}"
TABLES = ("environments", "audit_logs", "background_jobs")


def _dump(app, tenant_id) -> str:
    with app.app_context(), tenant_scope(tenant_id):
        return "\n".join(
            db.scalar(text(f"SELECT coalesce(json_agg(t)::text, '') FROM {table} t"))
            for table in TABLES
        )


def _files(root) -> str:
    return "\n".join(
        p.read_bytes().decode(errors="replace") for p in root.rglob("*") if p.is_file()
    )


def test_planted_git_secrets_never_leak(
    app, client, factory, tenant, fake_n8n, tmp_path, worker, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    argv: list[str] = []
    real_popen = subprocess.Popen

    def spy(args, **kwargs):
        argv.append(" ".join(args))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(command.subprocess, "Popen", spy)
    key = ssh_keys.generate_private_key()
    key_body = key.splitlines()[2]
    seen: list[str] = []

    def call(method, path, **kwargs):
        response = getattr(client, method)(path, headers=tenant.admin, **kwargs)
        seen.append(response.get_data(as_text=True))
        return response

    served = tmp_path / "served"
    served.mkdir()
    with GitHttpServer(served, {PLANTED: "write"}) as server:
        server.create_repository("flows")
        server.create_repository("moved")
        https_env = factory.environment(tenant.id, fake_n8n)
        embedded_env = factory.environment(tenant.id, fake_n8n)
        base = f"/api/v1/environments/{https_env.id}/git"
        call("put", base, json={"repository_url": server.url("flows"), "token": PLANTED})
        call("get", base)
        assert call("post", f"{base}/test").json["ok"] is True

        def commit(env_id, changes):
            target = git.target_for(environments.get(env_id))
            return git.commit_changes(target, changes=changes, message="m", operation="test")

        factory.run_as(tenant.id, commit, https_env.id, {"dev/a.json": b"1"})
        factory.run_as(tenant.id, commit, embedded_env.id, {"e/a.json": b"1"})

        # Failures: the token stops working, an attach job fails with it.
        server.tokens.clear()
        assert call("post", f"{base}/test").json["status"] == "auth_failed"
        try:
            factory.run_as(tenant.id, commit, https_env.id, {"dev/b.json": b"2"})
        except git.GitRemoteError as error:
            seen.append(str(error) + repr(error.details))
        attach = call(
            "post",
            f"/api/v1/environments/{embedded_env.id}/git/attach",
            json={"repository_url": server.url("moved"), "token": PLANTED},
        ).json
        failed = wait_for(app, tenant.id, uuid.UUID(attach["id"]), timeout=30)
        assert failed.status == "failed" and "credentials" in failed.error_message

        # A deploy key (on the same environment: the free plan has two), and no server there.
        ssh_env = https_env
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        ssh_base = f"/api/v1/environments/{ssh_env.id}/git"
        call(
            "put",
            ssh_base,
            json={"repository_url": f"ssh://git@127.0.0.1:{port}/x.git", "ssh_private_key": key},
        )
        call("get", ssh_base)
        assert call("post", f"{ssh_base}/test").json["status"] == "unreachable"
        for job in call("get", "/api/v1/jobs").json:
            call("get", f"/api/v1/jobs/{job['id']}")

    broker = dramatiq.get_broker()
    messages = [
        v.decode(errors="replace")
        for k in broker.client.scan_iter(f"{broker.namespace}*")
        if broker.client.type(k) == b"hash"
        for v in broker.client.hvals(k)
    ]
    basic = base64.b64encode(f"git:{PLANTED}".encode()).decode()
    everything = {
        "responses": "\n".join(seen),
        "logs": caplog.text,
        "tables": _dump(app, tenant.id),
        "broker": "\n".join(messages),
        "files on disk": _files(store.root()),
        "command lines": "\n".join(argv),
    }
    assert "credentials" in everything["tables"]  # the failures really were recorded
    for where, content in everything.items():
        for secret in (PLANTED, basic, key_body):
            assert secret not in content, f"a secret leaked into {where}"
