"""Reads for visitors, with the rules of who may see what."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from propusk.accounts.roles import Role, has_role
from propusk.visitors.models import Visitor

# Roles that work with every visitor; a host sees only the visitors of their own visits.
_ALL_VISITORS_ROLES = (Role.ADMINISTRATOR, Role.SECURITY, Role.RECEPTION)


def can_view_photo(user: AbstractBaseUser | AnonymousUser, visitor: Visitor) -> bool:
    if has_role(user, *_ALL_VISITORS_ROLES):
        return True
    if not has_role(user, Role.HOST):
        return False
    return visitor.visits.filter(host_id=user.pk).exists()


def face_photo_bytes(visitor: Visitor) -> bytes | None:
    """The stored face JPEG, or None if the visitor has none (or the file is gone)."""
    if not visitor.photo:
        return None
    try:
        with visitor.photo.open("rb") as stored:
            return stored.read()
    except FileNotFoundError:
        return None
