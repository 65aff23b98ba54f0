"""Outbound URL policy: which n8n URLs the platform may call, checked on resolved addresses."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from services.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})

#: Cloud instance-metadata endpoints: they hand out machine credentials, so they stay refused
#: even when an operator allows private networks.
CLOUD_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)

#: RFC 6052 NAT64 prefix: its addresses carry an IPv4 address in the last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: RFC 6598 carrier-grade NAT space: not public, and used for internal services in clouds.
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class UnsafeUrlError(InvalidInput):
    """The URL is malformed or points where the platform must not send requests."""

    code = "unsafe_url"


def check_url(url: str, *, allow_private: bool, resolve: bool = True) -> str:
    """Validate an n8n base URL and return it normalized (no trailing slash)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrlError(f"Only http and https URLs are allowed, not {scheme or 'none'!r}")
    if not parts.hostname:
        raise UnsafeUrlError("The URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError("The URL must not carry credentials; the API key goes separately")
    if parts.query or parts.fragment:
        raise UnsafeUrlError("The URL must not have a query or fragment")
    try:
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"The URL has an invalid port: {exc}") from None
    if port == 0:
        raise UnsafeUrlError("The URL has an invalid port: 0")
    port = port or (443 if scheme == "https" else 80)
    if resolve:
        try:
            resolve_checked(parts.hostname, port, allow_private=allow_private)
        except socket.gaierror as exc:
            raise UnsafeUrlError(f"The host {parts.hostname!r} does not resolve: {exc}") from None
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def resolve_checked(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing if any of them is not allowed.

    A name that does not resolve raises ``socket.gaierror``: a connection failure, not a policy one.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # Every address is checked, not just the first: the connection may fall back to any of them.
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        reason = refusal_reason(address, allow_private=allow_private)
        if reason:
            shown = host if host == address else f"{host!r} (resolves to {address})"
            raise UnsafeUrlError(f"The host {shown} is {reason}; refusing to connect")
    return addresses


def refusal_reason(address: str, *, allow_private: bool) -> str | None:
    """Why connecting to this IP address is refused, or None when it is allowed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return _classify(_embedded_ipv4(ip) or ip, allow_private=allow_private)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one routes to (mapped, 6to4, NAT64): it is what gets reached."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def _classify(ip: IPAddress, *, allow_private: bool) -> str | None:
    for test, kind, always_refused in _CATEGORIES:
        if test(ip):
            if always_refused:
                return kind
            return None if allow_private else f"{kind} (private networks are not allowed)"
    return None


#: (test, what the address is, refused even when private networks are allowed); first match
#: wins. Loopback comes before reserved because IPv6's reserved ::/8 contains ::1.
_CATEGORIES: tuple[tuple[Callable[[IPAddress], bool], str, bool], ...] = (
    (lambda ip: ip in CLOUD_METADATA_ADDRESSES, "a cloud metadata address", True),
    (lambda ip: ip.is_unspecified, "an unspecified address", True),
    (lambda ip: ip.is_multicast, "a multicast address", True),
    (lambda ip: ip.is_loopback, "a loopback address", False),
    (lambda ip: ip.is_reserved, "a reserved address", True),
    (lambda ip: ip.is_link_local, "a link-local address", False),
    (lambda ip: ip.is_private or ip in _SHARED, "a private address", False),
    (lambda ip: not ip.is_global, "a reserved address", True),
)
