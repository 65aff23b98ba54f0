"""The two row idioms every service repeats: fetch-or-404 and flush-or-409."""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from models.db import db
from services.errors import Conflict, NotFound

T = TypeVar("T")


def get_or_404(model: type[T], key: uuid.UUID, message: str) -> T:
    """The row of ``model`` with primary key ``key`` in the current tenant, else NotFound.

    Row-level security hides another tenant's row, so it is the same 404 as a missing one.
    """
    row = db.get(model, key)
    if row is None:
        raise NotFound(message)
    return row


def unchanged(row: object) -> bool:
    """Whether the values just set on ``row`` are those it had: a no-op change, which a
    service neither writes nor audits."""
    return not db.is_modified(row)


def flush_unique(message: str) -> None:
    """Flush pending changes; a unique violation rolls back and becomes Conflict (409)."""
    try:
        db.flush()
    except IntegrityError as exc:
        db.rollback()
        raise Conflict(message, code="duplicate") from exc
