"""Run the platform locally: web, worker and clock from the Procfile, through honcho.

With no DATABASE_URL / REDIS_URL in the environment, an embedded PostgreSQL and Redis are
started under .data/ of the checkout (scripts/embedded.py), the database roles are created
and migrations applied; otherwise the given services are used as they are. ``--demo`` also
starts two demo n8n instances and connects them to a demo tenant (scripts/demo.py).

Everything this starts stops with it: Ctrl-C or SIGTERM stops the Procfile's processes, then
the demo instances, Redis and PostgreSQL; a start that fails half-way stops what it started.
Ports are checked before anything starts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import socket
import sys
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import demo, embedded  # noqa: E402
from services import dbadmin  # noqa: E402
from services.config import Settings  # noqa: E402
from services.secrets import new_key_entry  # noqa: E402

#: Where the embedded servers keep their data (N8NOPS_DATA_DIR moves it, for tests).
DATA = Path(os.environ.get("N8NOPS_DATA_DIR") or ROOT / ".data")
DATABASE_NAME = "n8nops"
#: The Procfile's long-running processes (release is run here, as the migration step).
PROCESSES = ("web", "worker", "clock")
#: Ports the run listens on: variable -> (default, what listens).
PORTS = {
    "PORT": (5000, "the API"),
    "WEB_METRICS_PORT": (9100, "web metrics"),
    "WORKER_METRICS_PORT": (9191, "worker metrics"),
    "CLOCK_METRICS_PORT": (9192, "clock metrics"),
}


def busy_ports(env: dict[str, str], ports: dict[str, tuple[int, str]]) -> list[str]:
    """One line per port that something else listens on, naming the variable to change."""
    problems = []
    for variable, (default, purpose) in ports.items():
        port = int(env.get(variable) or default)
        env[variable] = str(port)
        if port and not _free(port):
            problems.append(
                f"port {port} ({purpose}) is in use: stop what listens there or set "
                f"{variable} to another port"
            )
    return problems


def _free(port: int) -> bool:
    with socket.socket() as sock:
        # As gunicorn binds: a port in TIME_WAIT is free, one being listened on is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - only a probe, closed at once
        except OSError:
            return False
    return True


def _embedded(server, stack: contextlib.ExitStack):
    """Start ``server`` now and stop it when ``stack`` unwinds."""
    server.start()
    stack.callback(server.stop)
    return server


def prepare_database(env: dict[str, str], stack: contextlib.ExitStack) -> None:
    if env.get("DATABASE_URL"):
        return
    postgres = _embedded(embedded.EmbeddedPostgres(DATA), stack)
    roles = dbadmin.DatabaseRoles()
    dbadmin.ensure_roles(postgres.url, roles)
    if not dbadmin.database_exists(postgres.url, DATABASE_NAME):
        dbadmin.create_database(postgres.url, DATABASE_NAME, owner=roles.owner)
    env["DATABASE_URL"] = dbadmin.url_for(postgres.url, database=DATABASE_NAME, user=roles.app)
    env["MIGRATION_DATABASE_URL"] = dbadmin.url_for(
        postgres.url, database=DATABASE_NAME, user=roles.owner
    )


def prepare_redis(env: dict[str, str], stack: contextlib.ExitStack) -> None:
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = _embedded(embedded.EmbeddedRedis(DATA), stack).url


def encryption_keys() -> str:
    """A development encryption key, made once and kept under .data/ (never committed)."""
    path = DATA / "encryption-keys"
    if not path.exists():
        path.write_text(new_key_entry("dev-1"))
        path.chmod(0o600)
    return path.read_text().strip()


#: Where the settings the processes started with are written: services/config.py reads
#: .data/dev.env by default (a launcher moved elsewhere, by tests, keeps its own).
DEV_ENV = DATA / "dev.env"


def write_dev_env(env: dict[str, str], path: Path = DEV_ENV) -> None:
    """Every setting the processes were started with (services.config.Settings), which every
    command run later in another shell reads too (services/config.py)."""
    names = [field.name.upper() for field in fields(Settings)]
    path.write_text("".join(f"{name}={shlex.quote(env[name])}\n" for name in names if name in env))
    path.chmod(0o600)


def run_procfile(env: dict[str, str]) -> int:
    """Run the Procfile's processes until one stops or Ctrl-C / SIGTERM; their exit code."""
    from honcho.environ import parse_procfile
    from honcho.manager import Manager

    procfile = parse_procfile((ROOT / "Procfile").read_text())
    manager = Manager()
    for name in PROCESSES:
        manager.add_process(name, procfile.processes[name], env=env, cwd=str(ROOT))
    manager.loop()
    return manager.returncode or 0


def _stop_on_sigterm(*_: object) -> None:
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run n8n-ops locally (make run / make demo).")
    parser.add_argument("--demo", action="store_true", help="also start and connect demo n8n")
    args = parser.parse_args(argv)
    DATA.mkdir(exist_ok=True)
    env = dict(os.environ)
    ports = {**PORTS, **(demo.PORTS if args.demo else {})}
    problems = busy_ports(env, ports)
    if problems:
        print("\n".join(f"n8n-ops: {line}" for line in problems), file=sys.stderr)
        return 2
    # Until honcho takes over the signals, SIGTERM unwinds the start like Ctrl-C does.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        with embedded.run_lock(DATA), contextlib.ExitStack() as stack:
            prepare_database(env, stack)
            prepare_redis(env, stack)
            env.setdefault("ENCRYPTION_KEYS", encryption_keys())
            # Local development talks to n8n instances on this machine or the LAN.
            env.setdefault("ALLOW_PRIVATE_NETWORKS", "true")
            env.setdefault("DRAMATIQ_NAMESPACE", Settings.dramatiq_namespace)
            settings = Settings.from_env(env)
            dbadmin.migrate(settings.migration_database_url)
            write_dev_env(env)
            banner = demo.start(env, stack, DATA) if args.demo else ""
            print(
                f"n8n-ops: API at http://127.0.0.1:{settings.port}/api/v1, "
                f"docs at http://127.0.0.1:{settings.port}/docs\n"
                f"operator commands (they read {DEV_ENV} too): "
                f".venv/bin/flask --app web --help{banner}",
                flush=True,
            )
            env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
            code = run_procfile(env)
            # Whatever comes now (a second Ctrl-C included) must not cut the clean-up short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            return code
    except embedded.StartFailed as failed:
        print(f"n8n-ops: {failed}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
