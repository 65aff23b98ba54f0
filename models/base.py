"""Declarative base, naming conventions and the column shapes every model shares."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    MetaData,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)

from models.db import current_tenant

# Short, deterministic names: alembic compares them, and PostgreSQL cuts names at 63 bytes.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

JSON = dict[str, Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
    }


def enum_check(column: str, values: tuple[str, ...], *, name: str | None = None) -> CheckConstraint:
    """A CHECK constraint limiting a text column to the values the spec lists."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(
        f"{column} IN ({quoted})",
        name=name or f"{column}_values",
        info={"column": column, "values": values},
    )


def tenant_fk(
    column: str, target_table: str, *, ondelete: str, use_alter: bool = False
) -> ForeignKeyConstraint:
    """A foreign key that includes tenant_id, so a row can only point inside its own tenant.

    ``ondelete="SET NULL"`` nulls only ``column``: tenant_id is never nulled.
    """
    if ondelete == "SET NULL":
        ondelete = f"SET NULL ({column})"
    return ForeignKeyConstraint(
        [column, "tenant_id"],
        [f"{target_table}.id", f"{target_table}.tenant_id"],
        ondelete=ondelete,
        use_alter=use_alter,
    )


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )


class CreatedAt:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Timestamps(CreatedAt):
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class TenantOwned(UUIDPrimaryKey):
    """A tenant's row: tenant_id (row-level security keys on it) and a (id, tenant_id) key
    that the tenant-scoped foreign keys of other tables point at."""

    # New rows default to the tenant in context; the RLS policy's WITH CHECK refuses any other.
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, default=current_tenant
    )

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (UniqueConstraint("id", "tenant_id"), *getattr(cls, "__extra_args__", ()))


#: Execution option of a statement built once that names the tenant itself (a bound
#: parameter): adding the criteria would make a new statement per call, and a hot path's
#: cached statement would be compiled and keyed again every time.
NAMES_TENANT = "names_tenant"


@event.listens_for(Session, "do_orm_execute")
def _name_the_tenant(state: ORMExecuteState) -> None:
    """Every ORM read of a tenant's rows also says ``tenant_id = <tenant>``.

    Row-level security stays the guarantee; its predicate is a function call the planner cannot
    see through, so without this one its estimates ignore the tenant (ten times off on ten
    tenants) and it cannot use the tenant-leading indexes for the filter.
    """
    tenant = current_tenant()
    if tenant is not None and state.is_select and not state.execution_options.get(NAMES_TENANT):
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantOwned, lambda cls: cls.tenant_id == tenant, include_aliases=True
            )
        )
