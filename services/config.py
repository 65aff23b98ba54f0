"""Configuration: read once from the environment (12-factor), typed, with working defaults.

Every process and command (web, worker, clock, the flask CLI, alembic) reads the same
settings: the process environment, over an env file. The file is the one N8NOPS_ENV_FILE
names (empty: none), else the one `make run` writes for its processes (.data/dev.env of the
checkout) when it exists, so an operator command in another shell talks to the same
database, Redis and queue namespace as the running processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from dotenv import dotenv_values

#: Default request body cap in bytes; workflows with many nodes run to a few MB.
DEFAULT_MAX_CONTENT_LENGTH = 8 * 1024 * 1024
#: Where the processes keep local state (Git clone caches, embedded repositories): the
#: checkout's .data/ unless DATA_DIR says otherwise.
DEFAULT_DATA_DIR = str(Path(__file__).resolve().parent.parent / ".data")


#: Names the env file read beneath the environment; empty for none.
ENV_FILE_VARIABLE = "N8NOPS_ENV_FILE"
#: What `make run` (scripts/devstack.py) writes: every setting its processes were given.
DEV_ENV_FILE = Path(__file__).resolve().parent.parent / ".data" / "dev.env"


def normalize_database_url(url: str) -> str:
    """Accept Heroku's postgres:// form and select the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the processes read from their environment."""

    #: The app role's connection (web, worker, clock). Never the table owner.
    database_url: str = "postgresql+psycopg://n8nops_app@127.0.0.1:5432/n8nops"
    #: The owner's connection, used only by migrations and operator commands.
    migration_database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Prefix of Dramatiq's Redis keys, so several deployments (or test runs) share a Redis.
    dramatiq_namespace: str = "n8nops"
    port: int = 5000
    log_level: str = "INFO"
    #: Log lines of every process: "json" (one object per line) or "text".
    log_format: str = "json"
    #: Where web (gunicorn's master) and clock serve Prometheus metrics, never on the API's
    #: port; 0 turns one off. The worker's port is Dramatiq's (Procfile).
    metrics_host: str = "127.0.0.1"
    web_metrics_port: int = 9100
    clock_metrics_port: int = 9192
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    #: Encryption keys for secrets at rest: "kid:base64-fernet-key", newest first.
    encryption_keys: tuple[str, ...] = ()
    #: Let environment URLs resolve to private or loopback addresses (self-hosted, tests).
    allow_private_networks: bool = False
    supabase_jwt_secret: str = ""
    #: Signs the dashboard's CSRF tokens; derived from the first encryption key when empty.
    secret_key: str = ""
    #: Mark the dashboard's session cookie Secure (set it wherever TLS terminates in front).
    session_cookie_secure: bool = False
    #: Hours a dashboard session lasts without use.
    session_hours: int = 12
    supabase_jwks_url: str = ""
    supabase_jwt_audience: str = "authenticated"
    supabase_jwt_issuer: str = ""
    supabase_jwt_algorithms: tuple[str, ...] = ("HS256",)
    #: Failed authentications allowed per client address, and per credential prefix, in the
    #: `limits` notation ("30/minute"); past either, 429 with Retry-After.
    auth_failures_per_address: str = "30/minute"
    auth_failures_per_credential: str = "10/minute"
    #: Database roles the migrations grant to; created by the operator or the launcher.
    app_db_role: str = "n8nops_app"
    definer_db_role: str = "n8nops_definer"
    #: Local state of this host: Git clone caches and the embedded Git repositories.
    data_dir: str = DEFAULT_DATA_DIR
    #: Whether environments without a remote may use an embedded repository under data_dir.
    #: It lives on one host's disk: off where workers run on several hosts or an ephemeral
    #: disk (the default when DYNO is set, as on Heroku).
    embedded_git: bool = True
    #: The API's address as its clients reach it (behind a proxy, TLS terminated there):
    #: pagination links are built from it, else relative; never from the Host header.
    public_url: str = ""
    #: Seconds of Strict-Transport-Security sent when public_url is https (0: none).
    hsts_max_age_s: int = 365 * 24 * 3600
    testing: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """From the process environment over its env file (see the module); from
        ``environ`` alone when given (over the file it names, if it names one)."""
        source = os.environ if environ is None else environ
        env = {**env_file_values(source, default=DEV_ENV_FILE if environ is None else None)}
        env.update(source)
        converters = {bool: _bool, int: int, tuple: _list}
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None:
                continue
            kind = type(f.default)
            values[f.name] = converters.get(kind, str)(raw)
        if "EMBEDDED_GIT" not in env and env.get("DYNO"):
            values["embedded_git"] = False
        settings = cls(**values)
        return settings.normalized()

    def normalized(self) -> Settings:
        db = normalize_database_url(self.database_url)
        migration = normalize_database_url(self.migration_database_url or db)
        return replace(self, database_url=db, migration_database_url=migration)

    def with_overrides(self, **overrides: object) -> Settings:
        return replace(self, **overrides).normalized()


def env_file_values(environ: Mapping[str, str], *, default: Path | None) -> dict[str, str]:
    """The settings in the env file ``environ`` names (it must exist), else in ``default``
    if that exists."""
    named = environ.get(ENV_FILE_VARIABLE)
    if named == "":
        return {}
    if named is None:
        if default is None or not default.is_file():
            return {}
        named = str(default)
    elif not Path(named).is_file():
        raise FileNotFoundError(f"{ENV_FILE_VARIABLE} names {named!r}, which does not exist")
    return {name: value for name, value in dotenv_values(named).items() if value is not None}


_current: Settings | None = None


def configure(settings: Settings) -> None:
    """Make ``settings`` the process's configuration (create_app, the worker, the clock)."""
    global _current  # noqa: PLW0603 - one configuration per process, set at start
    _current = settings


def current() -> Settings:
    """The process's configuration; read from the environment if nobody configured it."""
    if _current is None:
        configure(Settings.from_env())
    return _current
