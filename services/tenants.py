"""Tenants: created by an operator (CLI) or by onboarding."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select, text

from models.configuration import EnvironmentType
from models.db import db, tenant_scope
from models.tenancy import Tenant
from services import audit, environment_types
from services.errors import InvalidInput, NotFound
from services.rows import flush_unique

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,98}[a-z0-9]$")


def create_tenant(*, name: str, slug: str) -> Tenant:
    """Create a tenant; its id is chosen first so the row passes its own RLS check."""
    if not _SLUG.match(slug):
        raise InvalidInput("A slug is 3-100 lowercase letters, digits and dashes.")
    tenant_id = uuid.uuid4()
    with tenant_scope(tenant_id):
        tenant = Tenant(id=tenant_id, name=name, slug=slug)
        db.add(tenant)
        flush_unique(f"A tenant with slug {slug!r} exists.")
        db.add(EnvironmentType(**environment_types.DEFAULT_TYPE, is_default=True))
        audit.record(
            "tenant.create",
            resource_type="tenant",
            resource_id=tenant_id,
            new={"name": name, "slug": slug},
        )
        db.commit()
    return tenant


def tenant_id_for_slug(slug: str) -> uuid.UUID:
    """Operators name tenants by slug; this is the one lookup that crosses tenants."""
    tenant_id = db.scalar(text("SELECT tenant_id_for_slug(:slug)"), {"slug": slug})
    if tenant_id is None:
        raise NotFound(f"No tenant with slug {slug!r}.")
    return tenant_id


def current() -> Tenant:
    tenant = db.scalar(select(Tenant))
    if tenant is None:
        raise NotFound("No tenant in context.")
    return tenant
