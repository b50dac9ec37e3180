"""The result of a desk look-up, carried by the registration form until it is sent.

After reception finds a returning visitor (``services.look_up_visitor``), the page carries a
signed, short-lived token naming that visitor and the user who looked them up. When the form
comes back, ``returning_visitor`` accepts the token only if it is genuine, fresh, issued to
this same user (who may still look visitors up) and the national ID in the form is still the
one of that visitor. Only then does the page show the stored face and may the visitor keep it
(the photo becomes optional). Typing a known number without pressing "Find" changes nothing:
the photo stays required, so the stored face is shown only after an audited look-up.
"""

from __future__ import annotations

import time

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.core.exceptions import ValidationError

from propusk.visitors.crypto import national_id_lookup_hash
from propusk.visitors.models import Visitor
from propusk.visitors.selectors import can_look_up_visitors

MAX_AGE_SECONDS = 60 * 60
_SALT = "propusk.visitors.returning"


def returning_token(visitor: Visitor, user: AbstractBaseUser) -> str:
    """A token for the form's hidden field: this user found this visitor."""
    return signing.dumps({"visitor": visitor.pk, "user": user.pk}, salt=_SALT, compress=False)


def returning_visitor(
    *, token: str, national_id: str, user: AbstractBaseUser | AnonymousUser
) -> Visitor | None:
    """The visitor the token names, if it still applies to this form and user; else None."""
    if not token or not national_id or not can_look_up_visitors(user):
        return None
    try:
        payload = signing.loads(token, salt=_SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(payload, dict) or payload.get("user") != user.pk:
        return None
    visitor_id = payload.get("visitor")
    if not isinstance(visitor_id, int):
        return None
    try:
        lookup_hash = national_id_lookup_hash(national_id)
    except ValidationError:
        return None
    return Visitor.objects.filter(pk=visitor_id, national_id_hash=lookup_hash).first()


# --- Seeing a stored face after a look-up ------------------------------------------------
# A face shown on a page outside any visit (the form after "Find", the identity check at the
# desk) is served only to the session that made the audited look-up, for an hour.
_FACE_GRANTS_KEY = "propusk.face_grants"


def grant_face_view(session: SessionBase, visitor: Visitor) -> None:
    """After an audited look-up found ``visitor``: this session may see their face."""
    grants = _live_grants(session)
    grants[str(visitor.pk)] = time.time() + MAX_AGE_SECONDS
    session[_FACE_GRANTS_KEY] = grants


def has_face_grant(session: SessionBase, visitor_id: int) -> bool:
    return str(visitor_id) in _live_grants(session)


def _live_grants(session: SessionBase) -> dict[str, float]:
    stored = session.get(_FACE_GRANTS_KEY)
    if not isinstance(stored, dict):
        return {}
    moment = time.time()
    return {
        key: expiry
        for key, expiry in stored.items()
        if isinstance(expiry, int | float) and expiry > moment
    }
