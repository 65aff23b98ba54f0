"""Invitations: the only way a sign-in identity gets bound to a user row, by its owner.

An admin invites by email; the person accepts with their own JWT and the invitation token
(single use, expiring, stored as its SHA-256), which binds the JWT's subject to the row.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, delete, exists, select, text

from models.db import adopt_tenant, db
from models.tenancy import User, UserInvitation
from services import audit
from services.errors import Conflict, NotFound
from services.identity import hash_token

#: Every invitation token starts with this, so it is never mistaken for an API token.
INVITATION_PREFIX = "n8o_inv_"
#: Seconds an invitation stays acceptable.
INVITATION_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Invitation:
    """An issued invitation: the clear token is shown here, once."""

    token: str
    expires_at: datetime


def issue(user: User) -> Invitation:
    """A new invitation for ``user`` in the caller's transaction; earlier pending ones die."""
    if user.supabase_auth_id is not None:
        raise Conflict("This user has already accepted an invitation.", code="already_bound")
    if not user.is_active:
        raise Conflict("Reactivate the user before inviting them.", code="user_inactive")
    db.execute(delete(UserInvitation).where(_pending(user.id)))
    token = INVITATION_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(seconds=INVITATION_TTL_S)
    db.add(UserInvitation(user_id=user.id, token_hash=hash_token(token), expires_at=expires_at))
    audit.record(
        "user.invite",
        resource_type="user",
        resource_id=user.id,
        new={"email": user.email, "expires_at": expires_at.isoformat()},
    )
    return Invitation(token=token, expires_at=expires_at)


def _pending(user_id):
    return (UserInvitation.user_id == user_id) & UserInvitation.accepted_at.is_(None)


def pending_query() -> Select:
    """Active users with an invitation not accepted yet (expired ones too), newest first."""
    return (
        select(User)
        .where(User.is_active, User.supabase_auth_id.is_(None), exists().where(_pending(User.id)))
        .order_by(User.created_at.desc(), User.id.desc())
    )


def expiries(user_ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When the pending invitation of each of these users expires, in one query."""
    if not user_ids:
        return {}
    rows = db.execute(
        select(UserInvitation.user_id, UserInvitation.expires_at).where(
            UserInvitation.user_id.in_(user_ids), UserInvitation.accepted_at.is_(None)
        )
    )
    return dict(rows.all())


def revoke(user: User) -> None:
    """The user's pending invitation stops working, in the caller's transaction."""
    if user.supabase_auth_id is not None:
        raise Conflict("This user has already accepted an invitation.", code="already_bound")
    if not db.execute(delete(UserInvitation).where(_pending(user.id))).rowcount:
        raise Conflict("This user has no pending invitation.", code="no_invitation")
    audit.record(
        "user.revoke_invitation",
        resource_type="user",
        resource_id=user.id,
        old={"email": user.email},
    )


def accept(token: str, *, subject: str) -> uuid.UUID:
    """Bind ``subject`` to the invited user; returns the user's id (the context then runs as
    its tenant). An unknown, used or expired token is one and the same 404."""
    row = db.execute(
        text("SELECT * FROM accept_invitation(:h, :s)"),
        {"h": hash_token(token.strip()), "s": subject},
    ).one()
    if row.outcome == "invalid":
        raise NotFound("No such invitation, or it was used or has expired.")
    if row.outcome == "already_member":
        raise Conflict("You are already a member of this tenant.", code="already_member")
    adopt_tenant(row.tenant_id)  # accept_invitation set it in the transaction
    # The person acts from now on as the user they just became.
    audit.set_actor(replace(audit.current_actor(), actor_id=row.user_id))
    audit.record("user.accept_invitation", resource_type="user", resource_id=row.user_id)
    db.commit()
    return row.user_id
