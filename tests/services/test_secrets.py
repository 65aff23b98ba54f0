"""Secrets at rest: encryption with key ids and rotation."""

from __future__ import annotations

import pytest

from services.errors import Unavailable
from services.secrets import Keyring, new_key_entry


def test_encrypts_under_the_newest_key_and_decrypts_with_any_listed_key():
    old, new = new_key_entry("k1"), new_key_entry("k2")
    before = Keyring.parse((old,)).encrypt("n8n-api-key")
    ring = Keyring.parse((new, old))
    assert before.startswith("v1:k1:")
    assert ring.decrypt(before) == "n8n-api-key"
    assert ring.needs_rotation(before)
    rotated = ring.rotate(before)
    assert rotated.startswith("v1:k2:") and not ring.needs_rotation(rotated)
    assert ring.decrypt(rotated) == "n8n-api-key"
    assert "n8n-api-key" not in rotated


def test_ciphertext_differs_each_time():
    ring = Keyring.parse((new_key_entry("k"),))
    assert ring.encrypt("same") != ring.encrypt("same")


def test_a_dropped_key_fails_clearly_without_the_secret():
    secret = Keyring.parse((new_key_entry("gone"),)).encrypt("top-secret")
    with pytest.raises(Unavailable, match="'gone'") as failure:
        Keyring.parse((new_key_entry("other"),)).decrypt(secret)
    assert "top-secret" not in str(failure.value)


def test_no_key_refuses_to_store_secrets():
    with pytest.raises(Unavailable, match="ENCRYPTION_KEYS"):
        Keyring.parse(()).encrypt("x")


def test_malformed_key_entries_are_rejected():
    with pytest.raises(ValueError, match="key-id:fernet-key"):
        Keyring.parse(("no-separator",))
