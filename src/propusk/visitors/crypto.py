"""Encryption and keyed look-up hashes for national ID numbers.

The ID is stored encrypted with Fernet (AES-CBC + HMAC). ``settings.FIELD_ENCRYPTION_KEYS``
lists keys newest first: the first encrypts, every key decrypts, so a key is rotated by
putting a new one in front and keeping the old ones until every row is re-encrypted.
A returning visitor is found by an HMAC-SHA256 of the normalised ID under
``settings.LOOKUP_HASH_KEY``, never by decrypting rows.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from propusk.visitors.national_id import normalize_national_id

__all__ = [
    "InvalidToken",
    "decrypt_national_id",
    "encrypt_national_id",
    "national_id_lookup_hash",
]


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: give at least one Fernet key")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            # Never echo the key itself: it is a secret.
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: key #{position} is not a Fernet key "
                "(32 bytes, url-safe base64; generate one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from None
    return MultiFernet(fernets)


def _fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_national_id(value: str) -> str:
    """Encrypt a national ID (normalised first) with the newest key."""
    return _fernet().encrypt(normalize_national_id(value).encode("utf-8")).decode("ascii")


def decrypt_national_id(token: str) -> str:
    """Decrypt with any configured key; raises ``InvalidToken`` when no key fits."""
    return _fernet().decrypt(token.encode("ascii")).decode("utf-8")


def national_id_lookup_hash(value: str) -> str:
    """HMAC-SHA256 (hex) of the normalised ID: stable across encryption key rotations."""
    key = settings.LOOKUP_HASH_KEY
    if not key:
        raise ImproperlyConfigured("LOOKUP_HASH_KEY is empty")
    normalised = normalize_national_id(value)
    return hmac.new(key.encode("utf-8"), normalised.encode("utf-8"), hashlib.sha256).hexdigest()
