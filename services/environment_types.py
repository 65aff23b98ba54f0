"""A tenant's own environment types (labels such as "QA"), exactly one of them the default."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import Select, select, update

from models.configuration import EnvironmentType
from models.db import db
from services import audit
from services.errors import Conflict
from services.rows import flush_unique, get_or_404

#: The type every new tenant starts with.
DEFAULT_TYPE = {"name": "Standard", "slug": "standard"}


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100] or "type"


def list_query() -> Select:
    return select(EnvironmentType).order_by(EnvironmentType.name)


def get(type_id: uuid.UUID) -> EnvironmentType:
    return get_or_404(EnvironmentType, type_id, "No such environment type.")


def create(*, name: str, slug: str | None = None, is_default: bool = False) -> EnvironmentType:
    if is_default:
        _clear_default()
    created = EnvironmentType(name=name, slug=slug or slugify(name), is_default=is_default)
    db.add(created)
    flush_unique(f"An environment type {created.slug!r} exists.")
    audit.record(
        "environment_type.create",
        resource_type="environment_type",
        resource_id=created.id,
        new={"name": name, "slug": created.slug},
    )
    db.commit()
    return created


def update_type(type_id: uuid.UUID, **fields) -> EnvironmentType:
    found = get(type_id)
    if fields.get("is_default") is False and found.is_default:
        raise Conflict("Make another type the default instead.", code="default_required")
    if fields.get("is_default"):
        _clear_default(keep=type_id)
    for field, value in fields.items():
        setattr(found, field, value)
    flush_unique(f"An environment type {found.slug!r} exists.")
    db.commit()
    return found


def delete(type_id: uuid.UUID) -> None:
    found = get(type_id)
    if found.is_default:
        raise Conflict("The default type cannot be deleted.", code="default_required")
    db.delete(found)
    db.commit()


def _clear_default(keep: uuid.UUID | None = None) -> None:
    db.execute(
        update(EnvironmentType)
        .where(EnvironmentType.is_default, EnvironmentType.id != keep)
        .values(is_default=False)
    )
