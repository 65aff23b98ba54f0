"""The statements the app's engine sends inside a block, for tests that assert what SQL runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from models.db import get_engine


@contextmanager
def statements() -> Iterator[list[tuple[str, dict]]]:
    """(statement, parameters) of each statement sent until the block ends, as sent."""
    seen: list[tuple[str, dict]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters or {}))

    event.listen(get_engine(), "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(get_engine(), "before_cursor_execute", record)
