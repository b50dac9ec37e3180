"""API tokens: made and revoked by administrators (the admin, ``manage.py api_token``),
checked on every API request (``authentication.TokenAuthentication``).

A token is ``pk_`` and 43 random URL-safe characters. Only its SHA-256 is stored, so it can be
shown once, when it is made, and never again. Making and revoking are audited.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import transaction

from propusk.api.models import ApiToken
from propusk.audit.services import record
from propusk.core.time import now as current_time

TOKEN_PREFIX = "pk_"  # noqa: S105 - a marker, not a secret
_RANDOM_BYTES = 32
_SHOWN_PREFIX = 10
# ``last_used_at`` is written at most this often per token (not one write per request).
LAST_USED_PRECISION = timedelta(minutes=1)

Actor = AbstractBaseUser | AnonymousUser | None


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_token(
    *, user: User, name: str, actor: Actor, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token itself (shown once)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name.strip(),
            prefix=raw[:_SHOWN_PREFIX],
            key_hash=hash_token(raw),
            expires_at=expires_at,
            created_by=actor if isinstance(actor, User) else None,
        )
        record(
            actor=actor,
            action="api.token_created",
            target=token,
            changes={"user": user.pk, "name": token.name, "expires_at": expires_at},
        )
    return token, raw


def revoke_token(*, token: ApiToken, actor: Actor) -> ApiToken:
    """Revoke ``token`` now (again: nothing changes)."""
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is None:
            locked.revoked_at = current_time()
            locked.save(update_fields=["revoked_at"])
            record(
                actor=actor,
                action="api.token_revoked",
                target=locked,
                changes={"revoked_at": locked.revoked_at},
            )
    token.revoked_at = locked.revoked_at
    return token


def token_for(raw: str, *, now: datetime | None = None) -> ApiToken | None:
    """The live token ``raw`` is (not revoked, not expired, its user active), or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
    moment = now or current_time()
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= moment:
        return None
    if token.last_used_at is None or moment - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=moment)
        token.last_used_at = moment
    return token
