"""Environments: a tenant's connected n8n instances, their secrets and connection health."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select, update

from jobs import core as jobs
from models.configuration import EnvironmentType
from models.db import db
from models.environments import Environment
from models.tenancy import Tenant
from services import audit, config, entitlements
from services.errors import Conflict, InvalidInput, Unavailable
from services.n8n import (
    N8nAddressRefused,
    N8nClient,
    N8nError,
    N8nForbidden,
    N8nNotN8n,
    N8nTimeout,
    N8nTLSError,
    N8nUnauthorized,
    N8nUnreachable,
)
from services.rows import flush_unique, get_or_404, unchanged
from services.secrets import keyring
from services.url_safety import UnsafeUrlError, check_url

#: Seconds a connection test may take in all (connect + read), so the API answers quickly.
TEST_TIMEOUT_S = (3.0, 5.0)
#: Failed checks in a row (heartbeats, jobs' calls, connection tests alike) before an
#: environment is flagged unhealthy: with a beat every 5 minutes, about 15 minutes of
#: silence, not one dropped connection or a restart.
FAILURES_BEFORE_FLAGGED = 3

#: Drift handling a new environment gets from the tenant's plan (spec Decision 1).
DEFAULT_DRIFT_MODE_BY_PLAN = {
    "free": "warn_only",
    "pro": "warn_only",
    "agency": "manual_override",
    "enterprise": "require_attestation",
}

#: Fields the audit trail records; secrets only as "set" / "cleared".
_AUDITED = (
    "name",
    "url",
    "environment_class",
    "drift_handling_mode",
    "environment_type_id",
    "github_repo_url",
    "github_branch",
    "git_folder",
)
_SECRETS = {"api_key": "api_key_encrypted", "github_token": "github_token_encrypted"}

#: n8n client error -> (connection_status, what to tell the user)
_DIAGNOSES: tuple[tuple[type[Exception], str, str], ...] = (
    (N8nUnauthorized, "unauthorized", "n8n refused the API key (401): check or regenerate it."),
    (N8nForbidden, "forbidden", "The API key lacks a scope this platform needs (403)."),
    (N8nTLSError, "tls_error", "The TLS handshake failed: check the certificate."),
    (N8nTimeout, "timeout", "n8n did not answer in time."),
    (N8nAddressRefused, "refused_address", "The URL resolves to an address that is not allowed."),
    (UnsafeUrlError, "refused_address", "The URL is not allowed."),
    (N8nUnreachable, "unreachable", "Nothing answered at this URL (connection failed)."),
    (N8nNotN8n, "not_n8n", "Something answered, but not the n8n public API."),
)


def _snapshot(env: Environment) -> dict:
    values = {field: getattr(env, field) for field in _AUDITED}
    values["environment_type_id"] = str(env.environment_type_id or "") or None
    for public, column in _SECRETS.items():
        values[f"{public}_set"] = getattr(env, column) is not None
    return values


def list_query(*, environment_class: str | None = None) -> Select:
    query = select(Environment).order_by(Environment.name)
    if environment_class:
        query = query.where(Environment.environment_class == environment_class)
    return query


def get(env_id: uuid.UUID) -> Environment:
    """The environment in the current tenant (row-level security hides any other)."""
    return get_or_404(Environment, env_id, "No such environment.")


def start_job(
    job_type: str, env_id: uuid.UUID, *, user_id: uuid.UUID | None, triggered_by: str = "user"
):
    """Queue a job about one environment; one of each kind may be pending or running at a
    time (Conflict, 409, names the one that is)."""
    env = get(env_id)
    job = jobs.start(
        job_type,
        resource_type="environment",
        resource_id=env.id,
        concurrency_key=f"{job_type}:{env.id}",
        user_id=user_id,
        triggered_by=triggered_by,
    )
    db.commit()
    return job


def create(*, user_id: uuid.UUID | None, **fields) -> tuple[Environment, object]:
    """Create an environment and start its onboarding job; returns both."""
    # Creations of one tenant take turns, so two at once cannot both pass the limit.
    db.execute(select(Tenant.id).with_for_update())
    granted = entitlements.resolve()
    fields.setdefault(
        "drift_handling_mode",
        DEFAULT_DRIFT_MODE_BY_PLAN.get(granted["plan_name"], "warn_only"),
    )
    if fields.get("environment_type_id") is None:
        fields["environment_type_id"] = db.scalar(
            select(EnvironmentType.id).where(EnvironmentType.is_default)
        )
    env = Environment()
    _apply(env, fields)
    db.add(env)
    flush_unique(f"An environment named {env.name!r} exists.")
    # Only a request that would otherwise succeed hears about the plan: a bad URL or a taken
    # name is the client's to fix, not a reason to upgrade.
    others = db.scalar(
        select(func.count()).select_from(Environment).where(Environment.id != env.id)
    )
    entitlements.check_limit(granted, "environment_limits", others)
    audit.record(
        "environment.create", resource_type="environment", resource_id=env.id, new=_snapshot(env)
    )
    job = jobs.start(
        "onboarding",
        resource_type="environment",
        resource_id=env.id,
        concurrency_key=f"onboarding:{env.id}",
        user_id=user_id,
    )
    db.commit()
    return env, job


def update_environment(env_id: uuid.UUID, **fields) -> Environment:
    """Change an environment; a new URL or API key makes its connection unknown again and
    queues a check of it."""
    env = get(env_id)
    before = _snapshot(env)
    url_before, new_key = env.url, "api_key" in fields
    _apply(env, fields)
    if unchanged(env):
        return env
    flush_unique(f"An environment named {env.name!r} exists.")
    if env.url != url_before or new_key:
        _forget_connection(env)
    audit.record(
        "environment.update",
        resource_type="environment",
        resource_id=env.id,
        old=before,
        new=_snapshot(env),
    )
    db.commit()
    return env


def _forget_connection(env: Environment) -> None:
    """What was known of the old target no longer holds: status unknown until the check
    queued here says (the failure streak stays, so a recovery is still recorded once)."""
    env.connection_status = "unknown"
    env.connection_error = None
    env.connection_checked_at = None
    env.n8n_version_family = None
    # A check already pending reads the new target when it runs: that one does.
    with contextlib.suppress(Conflict):
        jobs.start(
            "connection_check",
            resource_type="environment",
            resource_id=env.id,
            concurrency_key=f"connection_check:{env.id}",
            triggered_by="system",
        )


def delete(env_id: uuid.UUID) -> None:
    env = get(env_id)
    audit.record(
        "environment.delete", resource_type="environment", resource_id=env.id, old=_snapshot(env)
    )
    db.delete(env)
    db.commit()


def _apply(env: Environment, fields: dict) -> None:
    if "url" in fields:
        fields["url"] = check_url(
            fields["url"], allow_private=config.current().allow_private_networks
        )
    for public, column in _SECRETS.items():
        if public in fields:
            secret = fields.pop(public)
            setattr(env, column, keyring().encrypt(secret) if secret else None)
    type_id = fields.get("environment_type_id")
    if type_id is not None and db.get(EnvironmentType, type_id) is None:
        raise InvalidInput("No such environment type.", code="unknown_environment_type")
    for field, value in fields.items():
        setattr(env, field, value)
    if env.api_key_encrypted is None:
        raise InvalidInput("An n8n API key is required.", code="api_key_required")


# --- talking to the instance --------------------------------------------------------------


def client_for(env: Environment, *, timeout: tuple[float, float] | None = None) -> N8nClient:
    """A client for the environment's n8n, with its API key decrypted only here; its errors
    name the environment."""
    options = {
        "allow_private": config.current().allow_private_networks,
        "source": f"environment {env.name!r}",
        "environment_class": env.environment_class,
    }
    if timeout:
        options["timeout"] = timeout
        options["max_retries"] = 0
    return N8nClient(env.url, keyring().decrypt(env.api_key_encrypted), **options)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    status: str
    message: str
    version_family: str | None = None
    latency_ms: int | None = None


def check_connection(env: Environment) -> ConnectionCheck:
    """Probe the instance now, within a few seconds, and say exactly what is wrong."""
    started = time.monotonic()
    try:
        with client_for(env, timeout=TEST_TIMEOUT_S) as client:
            version = client.probe_version()
    except (N8nError, UnsafeUrlError) as error:
        return ConnectionCheck(False, *diagnose(error))
    latency = int((time.monotonic() - started) * 1000)
    return ConnectionCheck(
        True, "healthy", f"Connected: n8n {version.family}.", version.family, latency
    )


def diagnose(error: Exception) -> tuple[str, str]:
    """(connection_status, message) for a failure talking to n8n; never carries a secret."""
    for kind, status, message in _DIAGNOSES:
        if isinstance(error, kind):
            return status, f"{message} ({error})"
    return "error", f"n8n answered with an error: {error}"


def record_check(env_id: uuid.UUID, check: ConnectionCheck) -> str | None:
    """Store a check's outcome (a heartbeat's, a job's, a connection test's: one failure
    streak for all), committed. The check that makes the streak reach
    FAILURES_BEFORE_FLAGGED flags the environment, the first success after that recovers
    it; each is recorded once in the audit trail. Returns "flagged", "recovered" or None."""
    before = db.execute(
        select(Environment.consecutive_failures, Environment.connection_status)
        .where(Environment.id == env_id)
        # Held until the commit: concurrent checks take turns, so none misses or repeats
        # a transition.
        .with_for_update()
    ).one_or_none()
    if before is None:
        db.rollback()  # deleted meanwhile
        return None
    failures = 0 if check.ok else before.consecutive_failures + 1
    transition = _transition(before.consecutive_failures, failures)
    if transition:
        audit.record(
            "environment.unhealthy" if transition == "flagged" else "environment.recovered",
            resource_type="environment",
            resource_id=env_id,
            old={
                "connection_status": before.connection_status,
                "consecutive_failures": before.consecutive_failures,
            },
            new={
                "connection_status": check.status,
                "consecutive_failures": failures,
                "message": check.message,
            },
        )
    values = {
        "connection_status": check.status,
        "connection_checked_at": datetime.now(UTC),
        "connection_error": None if check.ok else check.message,
        "consecutive_failures": failures,
    }
    if check.ok:
        values["last_heartbeat_at"] = values["connection_checked_at"]
        values["n8n_version_family"] = check.version_family
    db.execute(update(Environment).where(Environment.id == env_id).values(**values))
    db.commit()
    return transition


def _transition(failures_before: int, failures_after: int) -> str | None:
    flagged_before = failures_before >= FAILURES_BEFORE_FLAGGED
    flagged_after = failures_after >= FAILURES_BEFORE_FLAGGED
    if flagged_after and not flagged_before:
        return "flagged"
    if flagged_before and not flagged_after:
        return "recovered"
    return None


#: Connection outcomes that may clear up by themselves, so a job may try again.
TRANSIENT_STATUSES = frozenset({"unreachable", "timeout", "error"})


class ConnectionFailed(Unavailable):
    """The instance could not be used; ``retryable`` tells a job whether to try again."""

    code = "connection_failed"

    def __init__(self, check: ConnectionCheck) -> None:
        super().__init__(check.message, connection_status=check.status)
        self.retryable = check.status in TRANSIENT_STATUSES


@contextmanager
def n8n_session(env: Environment) -> Iterator[N8nClient]:
    """A client for a job's work on the instance: a failure talking to n8n is recorded on
    the environment's health (then raised); success after a failure marks it healthy."""
    env_id, was_healthy = env.id, env.connection_status == "healthy"
    try:
        with client_for(env) as client:
            yield client
    except (N8nError, UnsafeUrlError) as error:
        db.rollback()
        record_check(env_id, ConnectionCheck(False, *diagnose(error)))
        raise
    if not was_healthy:
        record_check(
            env_id, ConnectionCheck(True, "healthy", "A job reached n8n.", env.n8n_version_family)
        )


def test_connection(env_id: uuid.UUID) -> ConnectionCheck:
    env = get(env_id)
    check = check_connection(env)
    record_check(env.id, check)
    return check
