"""Reads for visitors, with the rules of who may see what."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from propusk.accounts.roles import Role, has_role
from propusk.visitors.crypto import national_id_lookup_hash
from propusk.visitors.models import Visitor

# Roles that may look a visitor up by national ID at the desk. Not hosts: a host typing
# arbitrary ID numbers could learn who has visited. Not security: it registers nobody.
LOOKUP_ROLES = (Role.ADMINISTRATOR, Role.RECEPTION)


def can_look_up_visitors(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, *LOOKUP_ROLES)


def visitor_by_national_id(national_id: str) -> Visitor | None:
    """The visitor with this national ID, found by its keyed hash (nothing is decrypted).

    Raises ``ValidationError`` for a malformed number. Not audited: people-facing look-ups go
    through ``services.look_up_visitor``.
    """
    lookup_hash = national_id_lookup_hash(national_id)
    return Visitor.objects.filter(national_id_hash=lookup_hash).first()


def face_photo_bytes(visitor: Visitor) -> bytes | None:
    """The stored face JPEG, or None if the visitor has none (or the file is gone)."""
    if not visitor.photo:
        return None
    try:
        with visitor.photo.open("rb") as stored:
            return stored.read()
    except FileNotFoundError:
        return None
