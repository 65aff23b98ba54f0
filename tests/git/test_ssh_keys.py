"""Deploy keys and trusted host keys."""

from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from services.errors import InvalidInput
from services.git import ssh_keys

#: The SHA-256 fingerprints each host publishes (docs.github.com, about.gitlab.com,
#: support.atlassian.com): the built-in keys must hash to exactly these.
PUBLISHED = {
    "github.com": {
        "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
        "SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
        "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
    },
    "gitlab.com": {
        "SHA256:eUXGGm1YGsMAS7vkcx6JOJdOGHPem5gQp4taiCfCLB8",
        "SHA256:HbW3g8zUjNSksFbqTiUWPWg2Bq1x8xdGUrliXFzSnUw",
    },
    "bitbucket.org": {
        "SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM",
        "SHA256:FC73VB6C4OQLSCrjEayhMp9UMxS97caD/Yyi2bhW/J0",
    },
}


def test_built_in_host_keys_match_the_published_fingerprints():
    assert {
        host: {ssh_keys.fingerprint(key) for key in keys}
        for host, keys in ssh_keys.BUILTIN_KNOWN_HOSTS.items()
    } == PUBLISHED


def test_our_fingerprint_is_openssh_s(tmp_path):
    line = ssh_keys.public_key_of(ssh_keys.generate_private_key())
    (tmp_path / "key.pub").write_text(line + "\n")
    printed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "key.pub")], capture_output=True, check=True
    ).stdout.decode()
    assert ssh_keys.fingerprint(line) in printed


def test_known_hosts_for_a_connection():
    assert ssh_keys.known_hosts_for("github.com", 22, None).count("github.com ") == 3
    assert ssh_keys.known_hosts_for("github.com", 2222, None) == ""
    assert ssh_keys.known_hosts_for("git.acme.io", 22, None) == ""
    assert (
        ssh_keys.known_hosts_for("github.com", 22, "x ssh-ed25519 AAAA") == "x ssh-ed25519 AAAA\n"
    )
    assert ssh_keys.host_alias("h", 22) == "h" and ssh_keys.host_alias("h", 2222) == "[h]:2222"


def test_known_hosts_are_validated():
    good = "# from ssh-keyscan\n[git.acme.io]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq\r\n"
    assert ssh_keys.normalize_known_hosts(good) == (
        "[git.acme.io]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq\n"
    )
    for bad in ("git.acme.io", "h ssh-dss AAAA", "h ssh-ed25519 not*base64", "# only\n"):
        with pytest.raises(InvalidInput):
            ssh_keys.normalize_known_hosts(bad)


def test_private_keys_are_normalised_to_openssh_format():
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    normalized = ssh_keys.normalize_private_key(pem.decode().replace("\n", "\r\n"))
    assert normalized.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert ssh_keys.public_key_of(normalized).startswith("ssh-rsa ")


@pytest.mark.parametrize(
    "key",
    [
        "not a key",
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        .decode(),
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode(),
    ],
    ids=["garbage", "passphrase-pem", "short-rsa"],
)
def test_unusable_private_keys_are_refused(key):
    with pytest.raises(InvalidInput) as caught:
        ssh_keys.normalize_private_key(key)
    assert caught.value.code == "invalid_ssh_key"


def test_an_openssh_key_with_a_passphrase_is_refused(tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "passphrase", "-f", str(tmp_path / "k")],
        check=True,
    )
    with pytest.raises(InvalidInput) as caught:
        ssh_keys.normalize_private_key((tmp_path / "k").read_text())
    assert "passphrase" in caught.value.message
