"""Canonical workflows: one stable identity per managed workflow per tenant, with a readable
slug fixed at creation (it names the workflow's file in Git; renaming the workflow never
changes it; a taken slug gets a numeric suffix)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.db import db
from models.workflows import CanonicalWorkflow
from services.errors import NotFound
from services.rows import get_or_404

#: Longest slug, in characters (a file name in Git, before ".json").
MAX_SLUG_CHARS = 80


def slugify(name: str) -> str:
    """A file-name-safe slug of a workflow's name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:MAX_SLUG_CHARS].rstrip("-") or "workflow"


def allocate_slugs(wanted: Sequence[str]) -> list[str]:
    """Unique slugs for new canonical workflows, in order (one query for the taken ones;
    deleted canonical workflows keep theirs)."""
    bases = [slugify(w) for w in wanted]
    taken = set(db.scalars(select(CanonicalWorkflow.canonical_slug)))
    slugs = []
    for base in bases:
        slug, n = base, 1
        while slug in taken:
            n += 1
            suffix = f"-{n}"
            slug = base[: MAX_SLUG_CHARS - len(suffix)] + suffix
        taken.add(slug)
        slugs.append(slug)
    return slugs


@dataclass(frozen=True)
class NewCanonical:
    name: str
    #: A supplied id (a file that names one) or None for a new one.
    canonical_id: uuid.UUID | None = None
    #: A supplied slug (a file's header); made unique like any other.
    slug: str | None = None


def create_many(items: Iterable[NewCanonical]) -> list[CanonicalWorkflow]:
    """Create canonical workflows in one statement (in the caller's transaction), in order."""
    items = list(items)
    if not items:
        return []
    slugs = allocate_slugs([item.slug or item.name for item in items])
    rows = [
        {"id": item.canonical_id or uuid.uuid4(), "name": item.name, "canonical_slug": slug}
        for item, slug in zip(items, slugs, strict=True)
    ]
    created = db.scalars(
        pg_insert(CanonicalWorkflow).values(rows).returning(CanonicalWorkflow)
    ).all()
    by_id = {row.id: row for row in created}
    return [by_id[row["id"]] for row in rows]


def list_query(*, name: str | None = None, include_deleted: bool = False) -> Select:
    query = select(CanonicalWorkflow).order_by(CanonicalWorkflow.canonical_slug)
    if not include_deleted:
        query = query.where(CanonicalWorkflow.deleted_at.is_(None))
    if name:
        query = query.where(CanonicalWorkflow.name.icontains(name, autoescape=True))
    return query


def get(canonical_id: uuid.UUID) -> CanonicalWorkflow:
    return get_or_404(CanonicalWorkflow, canonical_id, "No such canonical workflow.")


def require(canonical_ids: Iterable[uuid.UUID]) -> None:
    """404 naming the ids the tenant has no (undeleted) canonical workflow for."""
    wanted = set(canonical_ids)
    found = set(
        db.scalars(
            select(CanonicalWorkflow.id).where(
                CanonicalWorkflow.id.in_(wanted), CanonicalWorkflow.deleted_at.is_(None)
            )
        )
    )
    if wanted - found:
        raise NotFound(
            "No such canonical workflow.", canonical_ids=sorted(str(c) for c in wanted - found)
        )
