"""A requests adapter that applies the URL-safety policy to the address each socket connects to.

Checking a URL once and connecting later leaves a gap: DNS can answer a public address to the
check and a private one to the connection (DNS rebinding), and a pooled client reconnects long
after the check. So the check lives in the connection itself: it resolves the host, refuses if
any address is forbidden, and connects to exactly the addresses it checked. TLS still verifies
against the host name, which is left untouched.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from typing import Any, ClassVar

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError

from services.url_safety import resolve_checked


class _CheckedConnection:
    """Mixin for urllib3 connections: connect only to addresses the policy allows."""

    allow_private: ClassVar[bool] = False
    _dns_host: str
    port: int
    host: str

    def _new_conn(self) -> socket.socket:
        try:
            addresses = resolve_checked(self._dns_host, self.port, allow_private=self.allow_private)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        name = self._dns_host
        *others, last = addresses
        try:
            # urllib3 resolves _dns_host itself; an IP literal resolves to just itself.
            for address in others:
                self._dns_host = address
                # NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError.
                with contextlib.suppress(ConnectTimeoutError):
                    return super()._new_conn()  # type: ignore[misc]
            self._dns_host = last
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = name


@functools.cache
def _pool_classes(allow_private: bool) -> dict[str, type[HTTPConnectionPool]]:
    def checked(base: type[HTTPConnection]) -> type[HTTPConnection]:
        attrs = {"allow_private": allow_private}
        return type(f"Checked{base.__name__}", (_CheckedConnection, base), attrs)

    return {
        "http": type(
            "CheckedHTTPConnectionPool",
            (HTTPConnectionPool,),
            {"ConnectionCls": checked(HTTPConnection)},
        ),
        "https": type(
            "CheckedHTTPSConnectionPool",
            (HTTPSConnectionPool,),
            {"ConnectionCls": checked(HTTPSConnection)},
        ),
    }


class CheckedAdapter(HTTPAdapter):
    """HTTP(S) adapter whose every new connection passes ``url_safety`` first."""

    def __init__(self, *, allow_private: bool, pool_maxsize: int) -> None:
        self._allow_private = allow_private  # read by init_poolmanager, called by super()
        # Retries are the client's own (it knows which requests are safe to repeat).
        super().__init__(pool_maxsize=pool_maxsize, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self._allow_private)
