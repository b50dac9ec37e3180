"""Encryption of national IDs (with key rotation) and the keyed look-up hash."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError

from propusk.visitors.crypto import (
    InvalidToken,
    decrypt_national_id,
    encrypt_national_id,
    national_id_lookup_hash,
)

IIN = "900101300017"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def test_round_trip(settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    token = encrypt_national_id(IIN)
    assert IIN not in token
    assert decrypt_national_id(token) == IIN


def test_encrypts_the_normalised_value(settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert decrypt_national_id(encrypt_national_id("9001 0130-0017")) == IIN


def test_each_encryption_differs(settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert encrypt_national_id(IIN) != encrypt_national_id(IIN)


def test_key_rotation_new_key_first_old_keys_still_decrypt(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    old_token = encrypt_national_id(IIN)

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert decrypt_national_id(old_token) == IIN
    new_token = encrypt_national_id(IIN)

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert decrypt_national_id(new_token) == IIN  # the first key encrypted it
    with pytest.raises(InvalidToken):
        decrypt_national_id(old_token)


@pytest.mark.parametrize("bad", ["not-a-key", "c2hvcnQ=", ""])
def test_malformed_key_fails_loudly_without_echoing_it(settings, bad):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, bad] if bad else []
    with pytest.raises(ImproperlyConfigured) as caught:
        encrypt_national_id(IIN)
    if bad:
        assert bad not in str(caught.value)
        assert "#2" in str(caught.value)


def test_lookup_hash_is_stable_and_normalised(settings):
    first = national_id_lookup_hash(IIN)
    assert first == national_id_lookup_hash("9001 0130 0017")
    assert len(first) == 64
    assert IIN not in first
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]  # rotation does not move the hash
    assert national_id_lookup_hash(IIN) == first


def test_lookup_hash_depends_on_the_key(settings):
    first = national_id_lookup_hash(IIN)
    settings.LOOKUP_HASH_KEY = "another-key"
    assert national_id_lookup_hash(IIN) != first


def test_lookup_hash_refuses_invalid_ids():
    with pytest.raises(ValidationError):
        national_id_lookup_hash("123")
