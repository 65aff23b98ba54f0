"""Secrets at rest (n8n API keys, Git tokens, channel credentials): Fernet, with a key id.

Ciphertext is ``v1:<key id>:<fernet token>``; ENCRYPTION_KEYS lists "kid:key" pairs newest
first. New values are encrypted under the newest key; any listed key decrypts, so keys rotate
by adding a new one in front (every process), running ``flask rotate-secrets --apply`` once
every running process reports it (services/presence.py), then dropping the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from cryptography.fernet import Fernet, InvalidToken

from services import config
from services.errors import Unavailable

PREFIX = "v1"


class SecretsUnavailable(Unavailable):
    code = "secrets_unavailable"


@dataclass(frozen=True)
class Keyring:
    """The encryption keys of this deployment, newest first."""

    keys: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> Keyring:
        keys = []
        for entry in entries:
            kid, sep, key = entry.partition(":")
            if not sep or not kid or not key:
                raise ValueError("each ENCRYPTION_KEYS entry is 'key-id:fernet-key'")
            keys.append((kid, key))
        return cls(tuple(keys))

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(kid for kid, _ in self.keys)

    @cached_property
    def _fernets(self) -> dict[str, Fernet]:
        return {kid: Fernet(key) for kid, key in self.keys}

    @property
    def newest(self) -> str:
        if not self.keys:
            raise SecretsUnavailable(
                "No encryption key is configured (ENCRYPTION_KEYS); secrets cannot be stored."
            )
        return self.keys[0][0]

    def encrypt(self, plaintext: str) -> str:
        kid = self.newest
        return f"{PREFIX}:{kid}:{self._fernets[kid].encrypt(plaintext.encode()).decode()}"

    def decrypt(self, ciphertext: str) -> str:
        prefix, kid, token = _split(ciphertext)
        fernet = self._fernets.get(kid)
        if prefix != PREFIX or fernet is None:
            raise SecretsUnavailable(
                f"The key {kid!r} that encrypted this secret is not configured."
            )
        try:
            return fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretsUnavailable(f"A secret could not be decrypted with key {kid!r}.") from None

    def needs_rotation(self, ciphertext: str) -> bool:
        return _split(ciphertext)[1] != self.newest

    def rotate(self, ciphertext: str) -> str:
        return self.encrypt(self.decrypt(ciphertext))


def _split(ciphertext: str) -> tuple[str, str, str]:
    prefix, _, rest = ciphertext.partition(":")
    kid, _, token = rest.partition(":")
    return prefix, kid, token


def configuration_problem(entries: tuple[str, ...]) -> str | None:
    """Why a process must not start with these ENCRYPTION_KEYS, in one line (never showing a
    key); None when they are usable."""
    if not entries:
        return (
            "ENCRYPTION_KEYS is not set: generate a key with `n8n-ops-admin generate-key` and "
            "set ENCRYPTION_KEYS=<key-id>:<key> for every process (README, Deploy)"
        )
    try:
        ring = Keyring.parse(entries)
        ring._fernets  # noqa: B018 - builds each Fernet, which validates its key
    except ValueError:
        return (
            "ENCRYPTION_KEYS is malformed: each comma-separated entry is key-id:key, the key "
            "being 32 url-safe base64 bytes as `n8n-ops-admin generate-key` prints"
        )
    if len(set(ring.key_ids)) != len(ring.key_ids):
        return "ENCRYPTION_KEYS lists a key id twice: each key needs its own id"
    return None


def require_keys(entries: tuple[str, ...], *, process: str) -> None:
    """Exit with one line when a worker or clock cannot start with these keys."""
    problem = configuration_problem(entries)
    if problem:
        raise SystemExit(f"n8n-ops {process}: {problem}")


def new_key_entry(kid: str) -> str:
    """A fresh 'kid:key' entry for ENCRYPTION_KEYS."""
    return f"{kid}:{Fernet.generate_key().decode()}"


def keyring() -> Keyring:
    """The keyring of the process's configuration."""
    return _keyring_for(config.current().encryption_keys)


@lru_cache(maxsize=4)
def _keyring_for(entries: tuple[str, ...]) -> Keyring:
    return Keyring.parse(entries)
