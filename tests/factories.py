"""Builders of real rows through the product's services (the same paths the API uses)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from flask import Flask

from models.db import reset_context, tenant_scope
from models.tenancy import ROLES
from services import tenants, tokens, users


@dataclass
class TenantFixture:
    """A tenant, one user per role, and the Authorization header of each."""

    id: uuid.UUID
    slug: str
    user_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.headers("admin")

    @property
    def developer(self) -> dict[str, str]:
        return self.headers("developer")

    @property
    def viewer(self) -> dict[str, str]:
        return self.headers("viewer")


class Factory:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def tenant(self, roles: tuple[str, ...] = ROLES) -> TenantFixture:
        slug = f"t-{uuid.uuid4().hex[:12]}"
        with self.app.app_context():
            tenant = tenants.create_tenant(name=f"Tenant {slug}", slug=slug)
            fixture = TenantFixture(id=tenant.id, slug=slug)
            with tenant_scope(tenant.id):
                for role in roles:
                    user = users.create_user(email=f"{role}@{slug}.example", role=role)
                    fixture.user_ids[role] = user.id
                    _, fixture.tokens[role] = tokens.issue_token(user.id, name="tests")
            reset_context()
        return fixture

    def environment(self, tenant_id: uuid.UUID, fake, **fields):
        """An environment pointing at a fake n8n, created through the service."""
        from services import environments

        values = {
            "name": f"env-{uuid.uuid4().hex[:8]}",
            "url": fake.url,
            "api_key": fake.api_key,
            "environment_class": "dev",
            **fields,
        }
        env, _ = self.run_as(tenant_id, environments.create, user_id=None, **values)
        return env

    def member(self, tenant_id: uuid.UUID, subject: str, *, role: str = "developer") -> uuid.UUID:
        """A user of ``tenant_id`` whose invitation the person signed in as ``subject``
        accepted (the only way a subject gets bound); returns the user's id."""
        from services import invitations

        user = self.run_as(
            tenant_id,
            users.create_user,
            email=f"{role}-{uuid.uuid4().hex[:8]}@member.example",
            role=role,
        )
        with self.app.app_context():
            try:
                return invitations.accept(user.invitation.token, subject=subject)
            finally:
                reset_context()

    def plan(self, tenant_id: uuid.UUID, plan_name: str) -> None:
        """Put ``tenant_id`` on the plan named ``plan_name`` (as a subscription sync would)."""
        from models.db import db
        from services import entitlements

        def subscribe():
            entitlements.subscribe(plan_name)
            db.commit()

        self.run_as(tenant_id, subscribe)

    def run_as(self, tenant_id: uuid.UUID, func, /, *args, **kwargs):
        """Call a service function as ``tenant_id``, the way a request or job would."""
        with self.app.app_context(), tenant_scope(tenant_id):
            try:
                return func(*args, **kwargs)
            finally:
                reset_context()
