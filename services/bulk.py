"""Set-based writes: a page of rows travels as one JSON array, expanded in SQL.

One bind parameter per page, however many rows, and one statement compiled once: far
cheaper than a multi-row VALUES list with a parameter per cell.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnClause


def json_page(*columns: ColumnClause, name: str = "page", param: str = "rows"):
    """A derived table of ``columns`` from the JSON array bound as ``param``."""
    return (
        func.jsonb_to_recordset(bindparam(param, type_=JSONB))
        .table_valued(*columns)
        .render_derived(name=name, with_types=True)
    )
