"""Authentication of each request and the one permission table (role x action).

Endpoints declare the action they need with ``@requires("environments:write")``; this module
alone decides which role that takes. The action is also written into the OpenAPI operation
(``x-permission``, ``x-minimum-role``) so clients and the role-matrix test can read it.
"""

from __future__ import annotations

from functools import wraps

from flask import current_app, g, request
from flask_smorest import Blueprint

from services import audit
from services.errors import Forbidden, Unauthenticated
from services.identity import Principal, authenticate

PLATFORM = "platform_admin"

#: The minimum role each action needs inside a tenant (viewer < developer < admin), or
#: PLATFORM for platform admins.
PERMISSIONS: dict[str, str] = {
    "me:read": "viewer",
    "users:read": "viewer",
    "users:manage": "admin",
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
}


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated(
            "Send a personal API token or a JWT as 'Authorization: Bearer <token>'.",
            code="missing_credentials",
        )
    return credential.strip()


def current_principal() -> Principal:
    """The authenticated caller of this request (authenticating on first use)."""
    principal = g.get("principal")
    if principal is None:
        principal = authenticate(_bearer(), current_app.config["SETTINGS"])
        g.principal = principal
        audit.set_actor(
            audit.AuditActor(
                actor_id=principal.user_id,
                ip_address=request.remote_addr,
                user_agent=request.user_agent.string[:500] or None,
            )
        )
    return principal


def requires(action: str):
    """Decorate a view: authenticate, then refuse with 403 unless the role allows ``action``."""
    minimum = PERMISSIONS[action]

    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            allowed = (
                principal.is_platform_admin if minimum == PLATFORM else principal.has_role(minimum)
            )
            if not allowed:
                raise Forbidden(
                    f"This action needs the {minimum} role.",
                    code="insufficient_role",
                    required_role=minimum,
                )
            return func(*args, **kwargs)

        return Blueprint.doc(**{"x-permission": action, "x-minimum-role": minimum})(wrapper)

    return decorator
