"""A stand-in for ``socket.getaddrinfo`` that answers chosen names, for URL-safety tests."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def static_resolver(table: Mapping[str, Sequence[str]]) -> Callable[..., list[Any]]:
    """Resolve the names in ``table`` to its addresses; anything else (IP literals) as usual."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            return real(host, port, *args, **kwargs)
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in a], socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]]

    return getaddrinfo
