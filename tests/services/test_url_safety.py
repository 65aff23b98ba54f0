"""Which n8n URLs the platform may call: scheme, host, and every address the host resolves to."""

from __future__ import annotations

import socket

import pytest

from services import url_safety
from services.errors import InvalidInput
from services.url_safety import UnsafeUrlError, check_url
from tests.fake_n8n.dns import static_resolver

PRIVATE = [
    "http://127.0.0.1:5678",
    "http://127.8.9.10",
    "http://[::1]:5678",
    "http://10.0.0.5",
    "http://172.16.3.4",
    "http://192.168.1.20:5678",
    "http://100.64.0.1",
    "http://169.254.10.10",
    "http://[fe80::1]",
    "http://[fd12:3456::1]",
    "http://[::ffff:10.0.0.5]",
    "http://localhost:5678",
]
ALWAYS_REFUSED = [
    ("http://169.254.169.254/latest", "cloud metadata"),
    ("http://[fd00:ec2::254]", "cloud metadata"),
    ("http://100.100.100.200", "cloud metadata"),
    ("http://169.254.170.2", "cloud metadata"),
    ("http://[::ffff:169.254.169.254]", "cloud metadata"),
    ("http://[64:ff9b::a9fe:a9fe]", "cloud metadata"),
    ("http://0.0.0.0:5678", "unspecified"),
    ("http://[::]", "unspecified"),
    ("http://224.0.0.1", "multicast"),
    ("http://[ff02::1]", "multicast"),
    ("http://240.0.0.1", "reserved"),
    ("http://255.255.255.255", "reserved"),
]
PUBLIC = ["http://93.184.216.34", "https://8.8.8.8:8443/n8n", "https://[2001:4860:4860::8888]"]


@pytest.mark.parametrize("url", PRIVATE)
def test_private_and_loopback_addresses_are_refused_by_default(url):
    with pytest.raises(UnsafeUrlError, match="private networks are not allowed"):
        check_url(url, allow_private=False)


@pytest.mark.parametrize("url", PRIVATE)
def test_private_addresses_pass_when_the_operator_allows_them(url):
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize(("url", "kind"), ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_multicast_reserved_and_unspecified_are_always_refused(url, kind, allow_private):
    with pytest.raises(UnsafeUrlError, match=kind):
        check_url(url, allow_private=allow_private)


@pytest.mark.parametrize("url", PUBLIC)
def test_public_addresses_pass(url):
    assert check_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.216.34", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("93.184.216.34:5678", "Only http and https"),
        ("http://", "no host"),
        ("http://user:pw@93.184.216.34", "credentials"),
        ("http://93.184.216.34/?next=x", "query or fragment"),
        ("http://93.184.216.34/#x", "query or fragment"),
        ("http://93.184.216.34:99999", "invalid port"),
        ("http://93.184.216.34:0", "invalid port"),
    ],
)
def test_malformed_urls_are_refused_with_a_clear_reason(url, message):
    with pytest.raises(UnsafeUrlError, match=message):
        check_url(url, allow_private=True)


def test_the_error_is_an_invalid_input_the_web_layer_maps_to_400():
    with pytest.raises(InvalidInput) as caught:
        check_url("http://127.0.0.1", allow_private=False)
    assert caught.value.code == "unsafe_url"
    assert caught.value.status == 400


def test_urls_are_normalized_without_a_trailing_slash():
    assert check_url("HTTPS://8.8.8.8/n8n/ ", allow_private=False) == "https://8.8.8.8/n8n"


def test_resolve_false_checks_only_the_syntax():
    assert check_url("http://127.0.0.1:5678", allow_private=False, resolve=False)


def test_a_name_is_refused_if_any_of_its_addresses_is_private(monkeypatch):
    table = {"n8n.example.test": ["93.184.216.34", "10.1.2.3"]}
    monkeypatch.setattr(url_safety.socket, "getaddrinfo", static_resolver(table))
    with pytest.raises(UnsafeUrlError, match=r"n8n.example.test' \(resolves to 10.1.2.3\)"):
        check_url("https://n8n.example.test", allow_private=False)


def test_a_name_resolving_to_public_addresses_passes(monkeypatch):
    table = {"n8n.example.test": ["93.184.216.34", "2606:2800:220:1::1"]}
    monkeypatch.setattr(url_safety.socket, "getaddrinfo", static_resolver(table))
    assert check_url("https://n8n.example.test/", allow_private=False) == "https://n8n.example.test"


def test_a_name_that_does_not_resolve_is_refused(monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(url_safety.socket, "getaddrinfo", no_such_host)
    with pytest.raises(UnsafeUrlError, match="does not resolve"):
        check_url("https://nowhere.example.test", allow_private=True)
