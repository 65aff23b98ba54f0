"""Generic row builder: one valid row for any table of the model, from its metadata alone.

Used by the tenant-isolation test to put a row of every tenant table into two tenants without
hand-writing ~30 fixtures: required columns get a value of their type, enumerated columns the
first allowed value, foreign keys the row built earlier for the same tenant (or any row of a
global table).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Connection, Table, insert, select
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.types import Boolean, Date, DateTime, Float, Integer, Numeric, String, Text, Uuid

#: (column type, value maker), first match wins.
_GENERATORS = (
    (JSONB, dict),
    (Boolean, lambda: False),
    (Integer | Numeric | Float, lambda: 1),
    (DateTime | Date, lambda: datetime.now(UTC)),
    (Uuid, uuid.uuid4),
    (INET, lambda: "127.0.0.1"),
)


def _value(column) -> Any:
    for kind, make in _GENERATORS:
        if isinstance(column.type, kind):
            return make()
    if isinstance(column.type, String | Text):
        length = getattr(column.type, "length", None) or 32
        return uuid.uuid4().hex[: min(length, 32)]
    raise TypeError(f"no generator for {column.table.name}.{column.name}: {column.type!r}")


class RowBuilder:
    """Builds rows table by table for one tenant, remembering each row's key for children."""

    def __init__(self, conn: Connection, tenant_id: uuid.UUID) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def build(self, table: Table) -> dict[str, Any]:
        values: dict[str, Any] = {}
        enums = {
            c.info["column"]: c.info["values"][0]
            for c in table.constraints
            if isinstance(c, CheckConstraint) and "values" in c.info
        }
        references = self._references(table)
        for column in table.columns:
            if column.name == "tenant_id":
                values[column.name] = self.tenant_id
            elif column.name in references:
                if not column.nullable:
                    values[column.name] = references[column.name]()
            elif column.name in enums:
                values[column.name] = enums[column.name]
            elif column.primary_key and column.default is not None:
                values[column.name] = column.default.arg(None)
            elif column.nullable or column.server_default is not None:
                continue
            else:
                values[column.name] = _value(column)
        self.conn.execute(insert(table).values(**values))
        self.rows.setdefault(table.name, []).append(values)
        return values

    def _references(self, table: Table) -> dict[str, Any]:
        """column -> resolver; two references to one table get two distinct parent rows."""
        found = {}
        seen: dict[str, int] = {}
        for fk in table.foreign_key_constraints:
            for element in fk.elements:
                if element.parent.name == "tenant_id" or element.parent.nullable:
                    continue
                parent = element.column.table.name
                found[element.parent.name] = self._resolver(element.column, seen.get(parent, 0))
                seen[parent] = seen.get(parent, 0) + 1
        return found

    def _resolver(self, target, nth: int):
        def resolve():
            if "tenant_id" not in target.table.columns:
                return self.conn.scalar(select(target).offset(nth).limit(1))
            rows = self.rows.setdefault(target.table.name, [])
            while len(rows) <= nth:
                self.build(target.table)
            return rows[nth][target.name]

        return resolve
