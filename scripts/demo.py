"""`make demo`: two demo n8n instances (the test suite's fake n8n, served as processes and
seeded from scripts/demo_data.json), a demo tenant with an admin and a fresh token, and both
instances connected as the environments "dev" and "production", whose onboarding jobs the
worker runs as soon as it starts, and the world the dashboard opens onto (scripts/demo_world.py:
canonical workflows, a pipeline, a scheduled promotion, an open drift incident).

The seeding goes through the same services the API uses, and only through them, so the demo
keeps working as features land; each run starts the demo environments afresh (the demo
instances keep their data in memory).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = Path(__file__).resolve().parent / "demo_data.json"
TENANT_SLUG = "demo"
ADMIN_EMAIL = "admin@demo.example"
#: More people of the tenant, so the dashboard's users page shows each role.
TEAM = {"dev@demo.example": "developer", "viewer@demo.example": "viewer"}
#: A slow diagnostic job whose progress bar the dashboard shows moving (steps x seconds).
WATCHED_JOB = {"steps": 120, "step_seconds": 2}
#: Ports of the demo instances: variable -> (default, what listens).
PORTS = {
    "DEMO_N8N_DEV_PORT": (5679, "the demo n8n 'dev'"),
    "DEMO_N8N_PRODUCTION_PORT": (5680, "the demo n8n 'production'"),
}
#: Seconds a demo instance may take to answer.
START_TIMEOUT_S = 20.0


def instances() -> dict:
    return json.loads(DATA_FILE.read_text())["instances"]


def port_variable(name: str) -> str:
    return f"DEMO_N8N_{name.upper()}_PORT"


def serve_instances(env: dict[str, str], stack: contextlib.ExitStack, data: Path) -> dict[str, str]:
    """Start each demo instance as a process (stopped with ``stack``); their URLs by name."""
    urls = {}
    for name in instances():
        port = env[port_variable(name)]
        log = (data / f"demo-n8n-{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.demo_n8n", "--instance", name, "--port", port],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        stack.callback(_stop, process, log)
        urls[name] = f"http://127.0.0.1:{port}"
        _wait_until_served(urls[name], process, name)
    return urls


def _stop(process: subprocess.Popen, log) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def _wait_until_served(url: str, process: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback URL
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                message = f"the demo n8n {name!r} did not start (.data/demo-n8n-{name}.log)"
                raise RuntimeError(message) from None
            time.sleep(0.1)


def seed(env: dict[str, str], urls: dict[str, str]) -> tuple[str, dict]:
    """Create (or reuse) the demo tenant and admin, connect each instance afresh and build the
    demo's world on them (scripts/demo_world.py); returns a new token for the admin (shown
    once) and what the world holds."""
    from jobs import core
    from models.db import db, get_engine, reset_context, tenant_scope
    from scripts import demo_world
    from services import environments, tenants, tokens, users
    from services.config import Settings
    from services.errors import NotFound
    from services.identity import Principal
    from web import create_app

    app = create_app(Settings.from_env(env))
    with app.app_context():
        try:
            tenant_id = tenants.tenant_id_for_slug(TENANT_SLUG)
        except NotFound:
            tenant_id = tenants.create_tenant(name="Demo", slug=TENANT_SLUG).id
        with tenant_scope(tenant_id):
            try:
                admin = users.get_user_by_email(ADMIN_EMAIL)
            except NotFound:
                admin = users.create_user(email=ADMIN_EMAIL, role="admin", name="Demo Admin")
            for env_row in db.scalars(environments.list_query()).all():
                environments.delete(env_row.id)
            demo_world.prepare()
            connected = {
                name: environments.create(
                    user_id=admin.id,
                    name=name,
                    url=urls[name],
                    api_key=instance["api_key"],
                    environment_class=instance["environment_class"],
                )
                for name, instance in instances().items()
            }
            envs = {name: env_row for name, (env_row, _onboarding) in connected.items()}
            for email, role in TEAM.items():
                try:
                    users.get_user_by_email(email)
                except NotFound:
                    users.create_user(email=email, role=role)
            core.start("noop", user_id=admin.id, params=WATCHED_JOB)
            db.commit()
            built = demo_world.build(
                envs, Principal(user_id=admin.id, tenant_id=tenant_id, role="admin")
            )
            _, token = tokens.issue_token(admin.id, name="demo")
        reset_context()
    get_engine().dispose()
    return token, built


def start(env: dict[str, str], stack: contextlib.ExitStack, data: Path) -> str:
    """Serve and connect the demo instances; the banner lines to print."""
    from scripts import demo_world

    urls = serve_instances(env, stack, data)
    token, built = seed(env, urls)
    port = env.get("PORT", "5000")
    dashboard = f"http://127.0.0.1:{port}/ui"
    lines = [
        "",
        f"demo: tenant {TENANT_SLUG!r}, admin {ADMIN_EMAIL}, token (shown once): {token}",
        *(f"demo: n8n {name!r} at {url}" for name, url in urls.items()),
        f"demo: dashboard at {dashboard} (sign in with the token)",
        f"demo: a hotfix made in the production n8n is a drift incident: "
        f"{dashboard}/incidents/{built['incident_id']}",
        f"demo: a promotion of {demo_world.PROMOTED!r} to production is scheduled for "
        f"{built['scheduled_for']:%Y-%m-%d %H:%M} UTC",
        f'demo: curl -H "Authorization: Bearer {token}" '
        f"http://127.0.0.1:{port}/api/v1/environments",
        "demo: then /api/v1/environments/<id>/workflows, /api/v1/executions, /api/v1/jobs;"
        " or open /docs, Authorize with the token and try them there",
    ]
    return "\n".join(lines)
