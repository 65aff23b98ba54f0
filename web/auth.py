"""Authentication of each request and the one permission table (role x action).

Endpoints declare the action they need with ``@requires("environments:write")``; this module
alone decides which role that takes. The action is also written into the OpenAPI operation
(``x-permission``, ``x-minimum-role``) so clients and the role-matrix test can read it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import current_app, g, request
from flask_smorest import Blueprint

from services import audit
from services.errors import Forbidden, Unauthenticated
from services.identity import TOKEN_PREFIX, Principal, authenticate, jwt_subject, remembered

T = TypeVar("T")

PLATFORM = "platform_admin"
#: Any verified sign-in identity (a JWT), member of a tenant or not: accepting an invitation.
IDENTITY = "identity"

#: The minimum role each action needs inside a tenant (viewer < developer < admin), or
#: PLATFORM for platform admins.
PERMISSIONS: dict[str, str] = {
    "me:read": "viewer",
    "invitations:accept": IDENTITY,
    "users:read": "viewer",
    "users:manage": "admin",
    "audit:read": "admin",
    "tokens:own": "viewer",
    "jobs:read": "viewer",
    "jobs:cancel": "developer",
    "jobs:rerun": "developer",
    "jobs:bulk_rerun": "admin",
    "jobs:healthcheck": "admin",
    "environments:read": "viewer",
    "environments:write": "admin",
    "environments:test": "developer",
    "environments:sync": "developer",
    "environment_types:read": "viewer",
    "environment_types:write": "admin",
    "workflows:read": "viewer",
    "workflows:manage": "developer",
    "executions:read": "viewer",
    "executions:ingest": "developer",
    "credentials:read": "viewer",
    "credentials:check": "developer",
    "events:read": "viewer",
    "git:read": "viewer",
    "git:write": "admin",
    "git:test": "developer",
    "ignore_rules:read": "viewer",
    "ignore_rules:write": "admin",
    "workflow_policy:read": "viewer",
    "workflow_policy:write": "admin",
    "drift:read": "viewer",
    "drift:check": "developer",
    "drift:acknowledge": "developer",
    "drift:request_approval": "developer",
    "drift:manage": "admin",
    "drift:approve": "admin",
    "drift:override": "admin",
    "drift:resolve": "admin",
    "drift_policies:read": "viewer",
    "drift_policies:write": "admin",
    "canonical:read": "viewer",
    "canonical:onboard": "admin",
    "canonical:sync": "developer",
    "snapshots:read": "viewer",
    "snapshots:backup": "developer",
    "snapshots:restore": "developer",
    "pipelines:read": "viewer",
    "pipelines:write": "admin",
    "promotions:read": "viewer",
    "promotions:request": "developer",
    "promotions:approve": "developer",
    "promotions:execute": "admin",
    "deployments:read": "viewer",
    "deployments:manage": "admin",
    "credential_mappings:read": "viewer",
    "credential_mappings:write": "admin",
}

#: The action whose permission rerunning a job of each kind needs: that of the operation
#: that starts such a job. None: no tenant user starts it (the clock, the platform, a side
#: effect of another change), so no tenant user may rerun it either. Every kind is listed
#: (tests/web/test_rerun_permissions.py fails on a kind without an entry).
RERUN_PERMISSIONS: dict[str, str | None] = {
    "sync": "environments:sync",
    "onboarding": "environments:write",
    "connection_check": "environments:write",
    "execution_ingestion": "executions:ingest",
    "credential_sync": "credentials:check",
    "credential_health": "credentials:check",
    "healthcheck": "jobs:healthcheck",
    "git_attach": "git:write",
    "workflow_rehash": "ignore_rules:write",
    # Clock-only kinds: heartbeats, checks and retention on a schedule.
    "environment_heartbeat": None,
    "drift_check": None,
    "drift_ttl": None,
    "drift_retention": None,
    "retention_purge": None,
    # Kinds no API operation starts yet; each gets the permission of the one that will.
    "promotion": None,
    "deployment": None,
    "canonical_onboarding": None,
    "repo_sync": None,
    "workflow_backup": None,
    "workflow_restore": None,
    "workflow_manage": None,
    "drift_revert": None,
    "drift_keep_hotfix": None,
    # Does nothing (benchmarks, diagnostics): rerunning it needs only the rerun permission.
    "noop": "jobs:rerun",
}


def rerun_refusal(job_type: str, principal: Principal) -> Forbidden | None:
    """Why ``principal`` may not rerun a job of ``job_type`` (None: they may)."""
    action = RERUN_PERMISSIONS[job_type]
    if action is None:
        return Forbidden(
            f"A {job_type} job is started by the platform, not by users; it cannot be rerun.",
            code="not_rerunnable",
            job_type=job_type,
        )
    minimum = PERMISSIONS[action]
    if not principal.has_role(minimum):
        return Forbidden(
            f"Rerunning a {job_type} job needs the {minimum} role (as starting one does).",
            code="insufficient_role",
            required_role=minimum,
        )
    return None


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated(
            "Send a personal API token or a JWT as 'Authorization: Bearer <token>'.",
            code="missing_credentials",
        )
    return credential.strip()


#: The header naming the tenant a request acts in, for an identity that belongs to several.
TENANT_HEADER = "X-Tenant-ID"


def _named_tenant() -> uuid.UUID | None:
    value = request.headers.get(TENANT_HEADER, "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Unauthenticated(
            f"{TENANT_HEADER} must be the id of a tenant you belong to.", code="no_membership"
        ) from None


def _throttled(verify: Callable[[str], T]) -> T:
    """``verify`` this request's credential, unless its address or prefix failed too often
    lately (429); a refusal counts against both."""
    credential, address = _bearer(), request.remote_addr
    throttle = current_app.extensions["n8nops_auth_throttle"]
    throttle.check(address, credential, verified_lately=remembered(credential))
    try:
        return verify(credential)
    except Unauthenticated:
        throttle.failed(address, credential)
        raise


def current_principal() -> Principal:
    """The authenticated caller of this request (authenticating on first use)."""
    principal = g.get("principal")
    if principal is None:
        settings = current_app.config["SETTINGS"]
        principal = _throttled(
            lambda credential: authenticate(credential, settings, tenant_id=_named_tenant())
        )
        g.principal = principal
        audit.set_actor(_request_actor(principal.user_id))
    return principal


def _request_actor(user_id: uuid.UUID | None) -> audit.AuditActor:
    return audit.AuditActor(
        actor_id=user_id,
        ip_address=request.remote_addr,
        user_agent=request.user_agent.string[:500] or None,
    )


def current_subject() -> str:
    """The subject of this request's verified JWT, whether or not it belongs to a tenant."""
    if _bearer().startswith(TOKEN_PREFIX):
        raise Unauthenticated(
            "Sign in (a JWT) to do this; an API token acts for a user already bound.",
            code="jwt_required",
        )
    settings = current_app.config["SETTINGS"]
    return _throttled(lambda credential: jwt_subject(credential, settings))


def _allowed(minimum: str) -> bool:
    if minimum == IDENTITY:
        g.subject = current_subject()
        audit.set_actor(_request_actor(None))
        return True
    principal = current_principal()
    return principal.is_platform_admin if minimum == PLATFORM else principal.has_role(minimum)


def requires(action: str):
    """Decorate a view: authenticate, then refuse with 403 unless the role allows ``action``."""
    minimum = PERMISSIONS[action]

    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            if not _allowed(minimum):
                raise Forbidden(
                    f"This action needs the {minimum} role.",
                    code="insufficient_role",
                    required_role=minimum,
                )
            return func(*args, **kwargs)

        return Blueprint.doc(**{"x-permission": action, "x-minimum-role": minimum})(wrapper)

    return decorator
