"""SSH deploy keys and the host keys we trust (the known_hosts policy).

Policy: host keys are always checked strictly (StrictHostKeyChecking=yes), never learned on
first use. Trusted are the known_hosts lines configured on the environment and, for
github.com, gitlab.com and bitbucket.org, the keys those services publish (below, checked
against their published SHA-256 fingerprints). Any other host needs its lines configured
(``ssh-keyscan -p PORT HOST``, verified out of band). A server whose key is unknown or changed
is refused with a message that says so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from services.errors import InvalidInput

#: Host keys published by the big hosts (docs.github.com "GitHub's SSH key fingerprints",
#: about.gitlab.com "GitLab.com settings", support.atlassian.com "Configure SSH").
BUILTIN_KNOWN_HOSTS: dict[str, tuple[str, ...]] = {
    "github.com": (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxk"
        "ZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4"
        "Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgVsmerOBYf"
        "NqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQyytRLtL+38TGxkxCf"
        "lmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVruj16z6XyvxvjJwbz0wQZ75XK"
        "5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ7B381AK4Qdrwt51ZqExKbQpTUNn+Ejqo"
        "TwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6CmK2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB"
        "3nAZp+S5hpQs+p1vN1/wsjk=",
    ),
    "gitlab.com": (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf",
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFSMqzJeV9rUzU4k"
        "WitGjeR4PWSa29SPqJ1fVkhtj3Hw9xjLVXVYrU9QlYWrOLXBpQ6KWjbjTDTdDkoohFzgbEY=",
    ),
    "bitbucket.org": (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIazEu89wgQZ4bqs3d63QSMzYVa0MuJ2e2gKTKqu+UUO",
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPIQmuzMBuKdWeF4"
        "+a2sjSSpBK0iqitSQ+5BM9KhpexuGt20JpTVM7u5BDZngncgrqDMbWdxMWWOGtZ9UgbqgZE=",
    ),
}

KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
#: Longest known_hosts text accepted, in characters.
MAX_KNOWN_HOSTS_CHARS = 20_000
_MARKERS = ("@cert-authority", "@revoked")


def host_alias(host: str, port: int) -> str:
    """How known_hosts names a server: ``host``, or ``[host]:port`` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def known_hosts_for(host: str, port: int, configured: str | None) -> str:
    """The known_hosts file for a connection: the configured lines, else the published keys
    of a well-known host (on port 22), else nothing (the connection will be refused)."""
    if configured:
        return configured.strip() + "\n"
    if port == 22 and host in BUILTIN_KNOWN_HOSTS:
        return "".join(f"{host} {key}\n" for key in BUILTIN_KNOWN_HOSTS[host])
    return ""


def normalize_known_hosts(text: str) -> str:
    """Validate known_hosts lines (``[marker] hosts keytype base64 [comment]``)."""
    if len(text) > MAX_KNOWN_HOSTS_CHARS:
        raise InvalidInput("The known hosts are too long.", code="invalid_known_hosts")
    lines = []
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if fields[0] in _MARKERS:
            fields = fields[1:]
        if len(fields) < 3 or fields[1] not in KEY_TYPES or not _is_base64(fields[2]):
            raise InvalidInput(
                f"Line {number} of the known hosts is not 'host keytype key' (as printed by "
                "ssh-keyscan).",
                code="invalid_known_hosts",
            )
        lines.append(line)
    if not lines:
        raise InvalidInput("The known hosts list no key.", code="invalid_known_hosts")
    return "\n".join(lines) + "\n"


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        return False
    return True


def fingerprint(public_key: str) -> str:
    """OpenSSH's SHA-256 fingerprint of a public key line (``keytype base64 ...``)."""
    blob = base64.b64decode(public_key.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def normalize_private_key(text: str) -> str:
    """Validate a deploy key and return it in OpenSSH format (what ssh reads best).

    Ed25519, ECDSA and RSA keys in OpenSSH or PEM format; no passphrase (nobody could type it).
    """
    data = text.strip().replace("\r\n", "\n").encode() + b"\n"
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InvalidInput(
            "The SSH key is protected by a passphrase; a deploy key must have none.",
            code="invalid_ssh_key",
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidInput(
            "The SSH key could not be read: give a private key in OpenSSH or PEM format.",
            code="invalid_ssh_key",
        ) from None
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise InvalidInput(
            "Only Ed25519, ECDSA and RSA keys are supported.", code="invalid_ssh_key"
        )
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise InvalidInput("RSA keys need at least 2048 bits.", code="invalid_ssh_key")
    return _openssh(key)


def public_key_of(private_key: str) -> str:
    """The public half of a stored deploy key, as one authorized_keys line."""
    key = serialization.load_ssh_private_key(private_key.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode() + " n8n-ops"


def generate_private_key() -> str:
    """A fresh Ed25519 deploy key, in OpenSSH format."""
    return _openssh(ed25519.Ed25519PrivateKey.generate())


def _openssh(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
