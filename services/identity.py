"""Who is calling: personal API tokens and Supabase-compatible JWTs, resolved to a principal.

Both lookups happen before any tenant is known, so they go through the two SECURITY DEFINER
functions of the security migration, never through a general bypass of row-level security.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import jwt
from sqlalchemy import text

from models.db import adopt_tenant, bind_tenant, db
from models.tenancy import ApiToken, User
from services import broadcast
from services.config import Settings
from services.errors import Forbidden, Unauthenticated

#: Every personal token starts with this, so scanners and humans recognise a leaked one.
TOKEN_PREFIX = "n8o_pat_"  # noqa: S105 - a public prefix, not a secret
#: Bytes of randomness in a token's body.
TOKEN_ENTROPY_BYTES = 32
#: Seconds a fetched JWKS stays cached.
JWKS_CACHE_S = 600

ROLE_RANK = {"viewer": 1, "developer": 2, "admin": 3}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user of one tenant, with a role."""

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    is_platform_admin: bool = False
    token_id: uuid.UUID | None = None

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[minimum]


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_ENTROPY_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(
    bearer: str, settings: Settings, *, tenant_id: uuid.UUID | None = None
) -> Principal:
    """Resolve a bearer credential to a principal, or raise Unauthenticated / Forbidden.

    ``tenant_id`` is the tenant the caller named (X-Tenant-ID): a JWT whose subject belongs
    to several tenants must name one; a personal token belongs to one and may only name it.
    On success the context (and its transaction) runs as the principal's tenant.
    """
    if bearer.startswith(TOKEN_PREFIX):
        principal = _from_personal_token(bearer)
        if tenant_id is not None and tenant_id != principal.tenant_id:
            raise no_membership()
        return principal
    return _from_jwt(bearer, settings, tenant_id)


def no_membership() -> Unauthenticated:
    return Unauthenticated(
        "This identity is not a member of the tenant named in X-Tenant-ID.", code="no_membership"
    )


#: Seconds a verified personal token's principal is reused without asking the database.
#: A revoked token, a deactivated user or a changed role reaches every process at once by
#: broadcast (services.broadcast); this bounds the wait when Redis cannot carry it.
PRINCIPAL_CACHE_S = 5.0
#: Tokens remembered at most, per process.
PRINCIPAL_CACHE_SIZE = 4096
_principals: dict[str, tuple[float, Principal]] = {}


def forget_principals() -> None:
    """Drop every principal this process remembered."""
    _principals.clear()


def remembered(token: str) -> bool:
    """Whether this process verified ``token`` within the last PRINCIPAL_CACHE_S."""
    hit = _principals.get(hash_token(token))
    return hit is not None and hit[0] > time.monotonic()


def principals_changed() -> None:
    """After a committed revocation or user change: every process forgets its principals."""
    forget_principals()
    broadcast.announce()


def _from_personal_token(token: str) -> Principal:
    broadcast.listen(forget_principals)
    key = hash_token(token)
    hit = _principals.get(key)
    if hit is not None and hit[0] > time.monotonic():
        bind_tenant(hit[1].tenant_id)
        return hit[1]
    row = (
        db.execute(text("SELECT * FROM auth_token_principal(:h)"), {"h": key})
        .mappings()
        .one_or_none()
    )
    if row is None or row["revoked_at"] is not None:
        raise Unauthenticated("The token is invalid or revoked.", code="invalid_token")
    if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
        raise Unauthenticated("The token has expired.", code="token_expired")
    principal = _principal(row, token_id=row["token_id"])
    adopt_tenant(principal.tenant_id)  # auth_token_principal set it in the transaction
    if len(_principals) >= PRINCIPAL_CACHE_SIZE:
        _principals.clear()
    # Never past the token's own expiry.
    expiry = time.monotonic() + PRINCIPAL_CACHE_S
    if row["expires_at"] is not None:
        expiry = min(
            expiry, time.monotonic() + (row["expires_at"] - datetime.now(UTC)).total_seconds()
        )
    _principals[key] = (expiry, principal)
    return principal


def jwt_subject(token: str, settings: Settings) -> str:
    """The subject of a verified JWT (for accepting an invitation, before any membership)."""
    return _verify_jwt(token, settings)["sub"]


def _from_jwt(token: str, settings: Settings, tenant_id: uuid.UUID | None) -> Principal:
    return for_subject(jwt_subject(token, settings), tenant_id)


def _membership_rows(subject: str, tenant_id: uuid.UUID | None) -> list:
    return (
        db.execute(
            text("SELECT * FROM auth_subject_memberships(:s, :t)"), {"s": subject, "t": tenant_id}
        )
        .mappings()
        .all()
    )


@dataclass(frozen=True)
class Membership:
    """One tenant a sign-in subject belongs to, as the tenant picker lists it."""

    tenant_id: uuid.UUID
    tenant_name: str
    role: str


def memberships(subject: str) -> list[Membership]:
    """The tenants where ``subject`` is an active user, by name. Call it before binding the
    request's tenant: with a single membership the lookup binds the transaction to it."""
    return [
        Membership(row["tenant_id"], row["tenant_name"], row["role"])
        for row in _membership_rows(subject, None)
        if row["is_active"]
    ]


def for_subject(subject: str, tenant_id: uuid.UUID | None) -> Principal:
    """The principal of a verified subject in ``tenant_id`` (None: its only tenant), else
    Unauthenticated (tenant_required, no_membership, unknown_subject) or Forbidden."""
    rows = _membership_rows(subject, tenant_id)
    active = [row for row in rows if row["is_active"]]
    if len(active) == 1:
        principal = _principal(active[0])
        adopt_tenant(principal.tenant_id)  # auth_subject_memberships set it in the transaction
        return principal
    if len(active) > 1:
        raise Unauthenticated(
            "This identity belongs to several tenants: name one with the X-Tenant-ID header.",
            code="tenant_required",
            tenants=[str(row["tenant_id"]) for row in active],
        )
    if rows:
        return _principal(rows[0])  # raises: the only membership is deactivated
    if tenant_id is not None:
        raise no_membership()
    raise Unauthenticated("No user is registered for this identity.", code="unknown_subject")


def _principal(row, *, token_id: uuid.UUID | None = None) -> Principal:
    if not row["is_active"]:
        raise Forbidden("This user account is deactivated.", code="user_inactive")
    return Principal(
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        role=row["role"],
        is_platform_admin=row["is_platform_admin"],
        token_id=token_id,
    )


@lru_cache(maxsize=8)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=JWKS_CACHE_S, timeout=5)


def _verify_jwt(token: str, settings: Settings) -> dict:
    if not (settings.supabase_jwt_secret or settings.supabase_jwks_url):
        raise Unauthenticated("The bearer token is not a valid API token.", code="invalid_token")
    try:
        if settings.supabase_jwks_url:
            key = _jwks_client(settings.supabase_jwks_url).get_signing_key_from_jwt(token).key
        else:
            key = settings.supabase_jwt_secret
        return jwt.decode(
            token,
            key,
            algorithms=list(settings.supabase_jwt_algorithms),
            audience=settings.supabase_jwt_audience or None,
            issuer=settings.supabase_jwt_issuer or None,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("The token has expired.", code="token_expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise Unauthenticated(
            "The token's audience is not accepted.", code="invalid_token"
        ) from exc
    except jwt.InvalidIssuerError as exc:
        raise Unauthenticated("The token's issuer is not accepted.", code="invalid_token") from exc
    except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
        raise Unauthenticated("The token could not be verified.", code="invalid_token") from exc


def resume(
    user_id: uuid.UUID,
    tenant_id: uuid.UUID,
    *,
    token_id: uuid.UUID | None,
    is_platform_admin: bool = False,
) -> Principal:
    """The principal of a browser session signed in earlier: the user as it is now (role,
    active), and the sign-in token still valid, else Unauthenticated / Forbidden."""
    bind_tenant(tenant_id)
    user = db.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise Unauthenticated("Sign in again.", code="session_expired")
    if token_id is not None:
        token = db.get(ApiToken, token_id)
        if token is None or token.revoked_at is not None:
            raise Unauthenticated("The sign-in token was revoked.", code="invalid_token")
        if token.expires_at is not None and token.expires_at <= datetime.now(UTC):
            raise Unauthenticated("The sign-in token has expired.", code="token_expired")
    row = {
        "user_id": user.id,
        "tenant_id": tenant_id,
        "role": user.role,
        "is_active": user.is_active,
        "is_platform_admin": is_platform_admin,
    }
    return _principal(row, token_id=token_id)
