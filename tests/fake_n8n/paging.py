"""n8n's public-API pagination: base64-JSON cursors, offset-based or ``lastId``-based."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

#: Page size when the request names none.
DEFAULT_LIMIT = 100
#: Largest ``limit`` the API accepts.
MAX_LIMIT = 250


class ApiError(Exception):
    """An error answer: status and n8n's ``{"message": ...}`` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def encode_cursor(payload: dict[str, Any]) -> str:
    """What n8n's ``Buffer.from(JSON.stringify(x)).toString('base64')`` produces."""
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_cursor(raw: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise ApiError(400, "An invalid cursor was provided") from None
    if not isinstance(decoded, dict):
        raise ApiError(400, "An invalid cursor was provided")
    return decoded


def query_limit(query: dict[str, str]) -> int:
    """The ``limit`` query parameter, validated like n8n's OpenAPI layer does."""
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = float(raw)
    except ValueError:
        raise ApiError(400, "request/query/limit must be number") from None
    if limit > MAX_LIMIT:
        raise ApiError(400, f"request/query/limit must be <= {MAX_LIMIT}")
    return int(limit)


def offset_page(items: list[Any], query: dict[str, str]) -> tuple[list[Any], str | None, int]:
    """One page of an offset-paged list, its next cursor, and the page's 0-based number.

    A limit of 0 or less means no limit in n8n's query layer, while the cursor is still built
    from it: everything comes back with a cursor pointing at the same page again.
    """
    limit, offset = query_limit(query), 0
    if query.get("cursor"):
        cursor = decode_cursor(query["cursor"])
        if not isinstance(cursor.get("offset"), int) or not isinstance(cursor.get("limit"), int):
            raise ApiError(400, "An invalid cursor was provided")
        limit, offset = cursor["limit"], cursor["offset"]
    page = items[offset : offset + limit] if limit > 0 else items[offset:]
    cursor = encode_cursor({"limit": limit, "offset": offset + limit})
    return page, cursor if len(items) > offset + limit else None, offset // max(limit, 1)


def last_id_page(items: list[Any], query: dict[str, str]) -> tuple[list[Any], str | None]:
    """One page of a list ordered by numeric ``id`` descending, resumed below ``lastId``."""
    limit, last_id = query_limit(query), None
    if query.get("cursor"):
        cursor = decode_cursor(query["cursor"])
        limit = int(cursor.get("limit", limit))
        last_id = cursor.get("lastId")
    if last_id is not None:
        items = [item for item in items if int(item["id"]) < int(last_id)]
    page = items[:limit] if limit > 0 else items
    if len(items) > len(page):
        return page, encode_cursor({"lastId": str(page[-1]["id"]), "limit": limit})
    return page, None
