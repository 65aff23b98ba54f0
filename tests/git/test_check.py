"""The connection test says exactly what is wrong, in bounded time, without writing."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

from services import git
from services.git import connection as check_module
from services.git.transport import Credentials, parse_remote_url
from tests.git.server import READ_TOKEN, WRITE_TOKEN, commit_directly


def _at(target, url, **credentials):
    remote = parse_remote_url(url, allow_http=True)
    return dataclasses.replace(target, remote=remote, credentials=Credentials(**credentials))


def test_a_working_remote_reports_its_head_and_write_access(remote):
    head = commit_directly(remote.path, "main", {"dev/a.json": "{}"}, "first")
    result = git.check(remote.target)
    assert (result.ok, result.status, result.head, result.writable) == (True, "ok", head, True)
    assert result.branches == ("main",) and result.default_branch == "main"
    assert result.latency_ms is not None
    assert git.head(remote.target) == head  # and nothing was pushed
    assert "write access confirmed" in result.message


def test_an_empty_repository_is_fine(remote):
    result = git.check(remote.target)
    assert (result.ok, result.status, result.head) == (True, "empty_repository", None)


@pytest.mark.parametrize(
    ("credentials", "status"),
    [({"token": "ghp_nope"}, "auth_failed"), ({"token": READ_TOKEN}, "no_write_access")],
)
def test_credentials_problems_are_named(remote, credentials, status):
    commit_directly(remote.path, "main", {"dev/a.json": "{}"}, "first")
    result = git.check(_at(remote.target, remote.url, **credentials))
    assert (result.ok, result.status) == (False, status)
    assert "ghp_nope" not in result.message


def test_a_missing_repository_and_a_missing_branch(remote, git_server):
    missing = git.check(_at(remote.target, git_server.url("nothing"), token=WRITE_TOKEN))
    assert (missing.ok, missing.status) == (False, "not_found")
    commit_directly(remote.path, "main", {"dev/a.json": "{}"}, "first")
    commit_directly(remote.path, "staging", {"dev/a.json": "{}"}, "first")
    branch = git.check(dataclasses.replace(remote.target, branch="production"))
    assert (branch.ok, branch.status, branch.branches) == (
        False,
        "branch_missing",
        ("main", "staging"),
    )
    assert "main, staging" in branch.message


def test_an_unreachable_remote_and_a_silent_one(remote, monkeypatch):
    monkeypatch.setattr(check_module, "CHECK_TIMEOUT_S", 1.5)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = git.check(_at(remote.target, f"http://127.0.0.1:{port}/x.git", token=WRITE_TOKEN))
    assert (down.ok, down.status) == (False, "unreachable")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x.git"
        started = time.monotonic()
        slow = git.check(_at(remote.target, url, token=WRITE_TOKEN))
    assert (slow.ok, slow.status) == (False, "timeout")
    assert time.monotonic() - started < 5


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server whose certificate nobody trusts (self-signed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = make_server("127.0.0.1", 0, lambda env, start: [], ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.port}/x.git"
    server.shutdown()


def test_an_untrusted_certificate_is_a_tls_error(remote, tls_server):
    result = git.check(_at(remote.target, tls_server, token=WRITE_TOKEN))
    assert (result.ok, result.status) == (False, "tls_error")
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(_at(remote.target, tls_server, token=WRITE_TOKEN))
    assert caught.value.reason == "tls_error"


def test_the_embedded_repository_checks_out(embedded):
    result = git.check(embedded)
    assert (result.ok, result.status, result.head) == (True, "embedded", None)
    sha = git.commit_changes(
        embedded, changes={"dev/a.json": b"1"}, message="x", operation="test"
    ).sha
    assert git.check(embedded).head == sha
