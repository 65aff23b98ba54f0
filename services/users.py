"""A tenant's users: list, invite, change role, deactivate and reactivate."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select

from models.db import db
from models.tenancy import Tenant, User
from services import audit, entitlements, invitations
from services.errors import Conflict, NotFound
from services.identity import principals_changed
from services.rows import flush_unique, get_or_404

#: Fields of a user that the audit trail records.
_AUDITED = ("email", "name", "role", "is_active")


def _snapshot(user: User) -> dict:
    return {field: getattr(user, field) for field in _AUDITED}


def list_users_query(*, role: str | None = None, is_active: bool | None = None) -> Select:
    query = select(User).order_by(User.created_at, User.id)
    if role:
        query = query.where(User.role == role)
    if is_active is not None:
        query = query.where(User.is_active == is_active)
    return query


def get_user(user_id: uuid.UUID) -> User:
    """The user with this id in the current tenant; RLS makes another tenant's a miss."""
    return get_or_404(User, user_id, "No such user.")


def create_user(*, email: str, role: str, name: str | None = None) -> User:
    """Invite a person: their user row, and an invitation (``user.invitation``) they accept
    with their own sign-in to bind it."""
    email = email.strip().lower()
    _lock_members()
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"A user with email {email} already exists.", code="duplicate")
    _check_member_limit()
    user = User(email=email, name=name, role=role)
    db.add(user)
    flush_unique(f"A user with email {email} already exists.")
    audit.record("user.create", resource_type="user", resource_id=user.id, new=_snapshot(user))
    user.invitation = invitations.issue(user)
    db.commit()
    return user


def reinvite(user_id: uuid.UUID) -> User:
    """A new invitation for a user who has not accepted one yet (the old one stops working)."""
    user = get_user(user_id)
    user.invitation = invitations.issue(user)
    db.commit()
    return user


def revoke_invitation(user_id: uuid.UUID) -> User:
    """Withdraw a pending invitation: it stops working. The user row stays as it is (it may
    act with personal tokens); deactivating it frees the seat."""
    user = get_user(user_id)
    invitations.revoke(user)
    db.commit()
    return user


def update_user(user_id: uuid.UUID, **changes: object) -> User:
    """Change role, name or active flag; the tenant always keeps one active admin. Changing
    nothing writes nothing."""
    user = get_user(user_id)
    changes = {field: v for field, v in changes.items() if getattr(user, field) != v}
    if not changes:
        return user
    if changes.get("is_active") is True:
        _lock_members()
        _check_member_limit()
    before = _snapshot(user)
    for field, value in changes.items():
        setattr(user, field, value)
    if before["role"] == "admin" and before["is_active"] and not _is_active_admin(user):
        _ensure_another_active_admin(user.id)
    db.flush()
    audit.record(
        "user.update", resource_type="user", resource_id=user.id, old=before, new=_snapshot(user)
    )
    db.commit()
    principals_changed()
    return user


def _lock_members() -> None:
    # Member changes of one tenant take turns, so two at once cannot both pass the limit.
    db.execute(select(Tenant.id).with_for_update())


def _check_member_limit() -> None:
    active = db.scalar(select(func.count()).select_from(User).where(User.is_active))
    entitlements.check_limit(entitlements.resolve(), "team_member_limits", active)


def _is_active_admin(user: User) -> bool:
    return user.role == "admin" and user.is_active


def _ensure_another_active_admin(user_id: uuid.UUID) -> None:
    # Locking the other admins serialises two admins demoting each other at once.
    other = db.scalars(
        select(User.id)
        .where(User.role == "admin", User.is_active, User.id != user_id)
        .with_for_update()
    ).first()
    if other is None:
        db.rollback()
        raise Conflict("The tenant must keep at least one active admin.", code="last_admin")


def get_user_by_email(email: str) -> User:
    user = db.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"No user with email {email!r}.")
    return user
