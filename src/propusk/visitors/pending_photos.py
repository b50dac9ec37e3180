"""Accepted photos waiting for the rest of a form to be corrected.

When a form comes back with errors, the visitor should not have to take the photo again.
The normalised JPEG is kept in a private directory (0700, files 0600) under a random name;
the form carries only a signed, short-lived token naming it. Files are deleted when used, and
swept once they are an hour old by the next ``keep`` or by the periodic
``tasks.sweep_pending_photos`` (every ten minutes; faces are biometric data: nothing lingers).
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from pathlib import Path

from django.conf import settings
from django.core import signing

MAX_AGE_SECONDS = 60 * 60
_SALT = "propusk.visitors.pending_photo"
_NAME_BYTES = 16


def _directory() -> Path:
    path = Path(settings.MEDIA_ROOT) / "faces-pending"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    # 0700 whatever the umask, and also for a directory an older version created 0755.
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        path.chmod(0o700)
    return path


def _path_for(name: str) -> Path | None:
    if len(name) != _NAME_BYTES * 2 or not all(ch in "0123456789abcdef" for ch in name):
        return None
    return _directory() / f"{name}.jpg"


def keep(photo_jpeg: bytes) -> str:
    """Store the photo and return a token for the form's hidden field."""
    sweep()
    name = secrets.token_hex(_NAME_BYTES)
    path = _directory() / f"{name}.jpg"
    # Created 0600 (never readable by others, not even for a moment), exactly 0600 whatever
    # the umask.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(photo_jpeg)
    return signing.dumps(name, salt=_SALT, compress=False)


def load(token: str) -> bytes | None:
    """The photo a token names, or None if the token is forged, expired or the file is gone."""
    path = _path_from_token(token)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def discard(token: str) -> None:
    path = _path_from_token(token)
    if path is not None:
        path.unlink(missing_ok=True)


def sweep(max_age_seconds: int = MAX_AGE_SECONDS) -> int:
    """Delete pending photos older than the token lifetime; returns how many were deleted."""
    cutoff = time.time() - max_age_seconds
    deleted = 0
    for path in _directory().glob("*.jpg"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                deleted += 1
        except FileNotFoundError:
            continue
    return deleted


def _path_from_token(token: str) -> Path | None:
    if not token:
        return None
    try:
        name = signing.loads(token, salt=_SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(name, str):
        return None
    return _path_for(name)
