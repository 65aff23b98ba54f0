"""Personal API tokens: issued once in clear, stored as a SHA-256 hash, revocable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select

from models.db import db
from models.tenancy import ApiToken
from services import audit
from services.errors import Conflict, NotFound
from services.identity import hash_token, new_token, principals_changed

#: Characters of a token kept in clear so lists can tell tokens apart.
DISPLAY_PREFIX_CHARS = 12


def issue_token(
    user_id: uuid.UUID, *, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user_id``; the clear value is returned here and never again."""
    secret = new_token()
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken(
        user_id=user_id,
        name=name,
        display_prefix=secret[:DISPLAY_PREFIX_CHARS],
        token_hash=hash_token(secret),
        expires_at=expires_at,
    )
    db.add(token)
    db.flush()
    audit.record(
        "token.create",
        resource_type="api_token",
        resource_id=token.id,
        new={"name": name, "user_id": str(user_id), "expires_at": _iso(expires_at)},
    )
    db.commit()
    return token, secret


def list_tokens_query(user_id: uuid.UUID) -> Select:
    return (
        select(ApiToken)
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )


def revoke_token(user_id: uuid.UUID, token_id: uuid.UUID) -> ApiToken:
    token = db.get(ApiToken, token_id)
    if token is None or token.user_id != user_id:
        raise NotFound("No such token.")
    if token.revoked_at is not None:
        raise Conflict("The token is already revoked.", code="already_revoked")
    token.revoked_at = datetime.now(UTC)
    audit.record("token.revoke", resource_type="api_token", resource_id=token.id)
    db.commit()
    principals_changed()
    return token


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
