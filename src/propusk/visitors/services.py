"""Writes for visitors: registration (new or returning), photo replacement, and the audited
look-up of a returning visitor at the desk.

A returning visitor is found by the keyed hash of their national ID and updated in place -
one visitor identity, one HCP person. Visitors are never merged by name. Audit entries say
which fields changed, never the values of the ID number or the face.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from propusk.accounts.roles import Role, has_role
from propusk.audit.services import record
from propusk.core import throttle
from propusk.core.time import now
from propusk.visitors.crypto import encrypt_national_id, national_id_lookup_hash
from propusk.visitors.models import Visitor
from propusk.visitors.national_id import normalize_national_id
from propusk.visitors.selectors import can_look_up_visitors, visitor_by_national_id

logger = logging.getLogger(__name__)

# Bump when templates/visitors/_consent_text.html changes in meaning: each visitor records the
# version they agreed to.
CONSENT_TEXT_VERSION = "2026-01"

Actor = AbstractBaseUser | AnonymousUser | None


@dataclass(frozen=True)
class VisitorData:
    family_name: str
    given_name: str
    middle_name: str
    phone: str
    email: str
    national_id: str | None
    photo_jpeg: bytes | None
    consent: bool

    def __repr__(self) -> str:
        # Keep the ID number and the face out of tracebacks and debug logs.
        return (
            f"VisitorData(family_name={self.family_name!r}, given_name={self.given_name!r}, "
            f"national_id={'<set>' if self.national_id else None}, "
            f"photo_jpeg={f'<{len(self.photo_jpeg)} bytes>' if self.photo_jpeg else None})"
        )


_PLAIN_FIELDS = ("family_name", "given_name", "middle_name", "phone", "email")

# Face files written inside the current ``delete_new_photos_on_failure`` block.
_new_photo_files: ContextVar[list[tuple[Storage, str]] | None] = ContextVar(
    "new_photo_files", default=None
)


@contextmanager
def delete_new_photos_on_failure() -> Iterator[None]:
    """Delete the face files written inside the block if the block raises.

    A face file is written before its row is committed; when the transaction then rolls back
    (a later check fails), the file must not linger as an orphan copy of biometric data.
    Wrap the whole transaction that registers a visitor (and, say, their visit) in this.
    Nested blocks leave the decision to the outermost one.
    """
    if _new_photo_files.get() is not None:
        yield
        return
    written: list[tuple[Storage, str]] = []
    marker = _new_photo_files.set(written)
    try:
        yield
    except BaseException:
        for storage, name in written:
            storage.delete(name)
        raise
    finally:
        _new_photo_files.reset(marker)


def register_visitor(
    *,
    data: VisitorData,
    actor: Actor,
    actor_label: str | None = None,
) -> Visitor:
    """Create a visitor, or register the returning visitor with the same national ID again.

    A returning visitor's stored face, name and contacts are one identity shared by all their
    visits (one HCP person). Anyone who knows a person's ID number could type it, so only
    desk staff who see the person (``may_update_identity``: reception, administrators) replace
    them; from anyone else (a host, an invitation link) the stored identity is kept, a
    missing photo is filled in, and the audit entry notes what was not applied.
    """
    if not data.consent:
        raise ValidationError(
            _("Consent to the processing of personal data is required."), code="consent"
        )
    national_id = normalize_national_id(data.national_id) if data.national_id else None
    lookup_hash = national_id_lookup_hash(national_id) if national_id else None
    with delete_new_photos_on_failure(), transaction.atomic():
        visitor = _find_for_update(lookup_hash)
        if visitor is None:
            try:
                with transaction.atomic():
                    return _create(
                        data=data,
                        national_id=national_id,
                        lookup_hash=lookup_hash,
                        actor=actor,
                        actor_label=actor_label,
                    )
            except IntegrityError:
                # Someone registered the same ID number a moment ago: update that visitor.
                visitor = _find_for_update(lookup_hash)
                if visitor is None:
                    raise
        return _update(
            visitor=visitor,
            data=data,
            actor=actor,
            actor_label=actor_label,
            may_update=may_update_identity(actor),
        )


def may_update_identity(actor: Actor) -> bool:
    """Whether ``actor`` may replace a returning visitor's stored face and details."""
    return actor is not None and has_role(actor, Role.RECEPTION, Role.ADMINISTRATOR)


class LookupThrottled(Exception):
    """The user has looked up too many visitors in this window (``PROPUSK_LOOKUP_LIMIT``)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        minutes = max(1, -(-self.retry_after // 60))
        return ngettext(
            "Too many look-ups; try again in %(minutes)d minute.",
            "Too many look-ups; try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}


def look_up_visitor(*, national_id: str, actor: Actor) -> Visitor | None:
    """Reception (or an administrator) asks: has the person with this national ID been here?

    The visitor, or None. Found by the keyed hash, never by decrypting. Only roles that may
    look up (``selectors.LOOKUP_ROLES``: not hosts, not security) - ``PermissionDenied``
    otherwise; a malformed number is a ``ValidationError`` and looks nothing up. Every
    look-up is audited as ``visitor.looked_up`` (found or not; the number itself is neither
    audited nor logged).

    Each user may look up ``PROPUSK_LOOKUP_LIMIT`` times per ``PROPUSK_LOOKUP_WINDOW_SECONDS``
    (every attempt counts, a malformed number too); beyond that ``LookupThrottled`` is raised,
    nothing is looked up and ``visitor.lookup_throttled`` is audited.
    """
    if actor is None or not can_look_up_visitors(actor):
        raise PermissionDenied(_("You are not allowed to look visitors up."))
    allowance = throttle.hit(
        "visitor-lookup",
        str(actor.pk),
        limit=settings.LOOKUP_LIMIT,
        window=settings.LOOKUP_WINDOW_SECONDS,
    )
    if not allowance.allowed:
        record(
            actor=actor,
            action="visitor.lookup_throttled",
            target=Visitor,
            changes={
                "limit": settings.LOOKUP_LIMIT,
                "window_seconds": settings.LOOKUP_WINDOW_SECONDS,
            },
        )
        logger.warning("visitor look-up by user %s throttled", actor.pk)
        raise LookupThrottled(allowance.retry_after)
    visitor = visitor_by_national_id(national_id)
    if visitor is None:
        record(
            actor=actor,
            action="visitor.looked_up",
            target=Visitor,
            changes={"result": "not_found"},
        )
        logger.info("visitor look-up by user %s: no match", actor.pk)
        return None
    record(
        actor=actor,
        action="visitor.looked_up",
        target=visitor,
        changes={"result": "found", "photo": "on file" if visitor.photo else "none"},
    )
    logger.info("visitor look-up by user %s: visitor %s", actor.pk, visitor.pk)
    return visitor


def _find_for_update(lookup_hash: str | None) -> Visitor | None:
    if lookup_hash is None:
        return None
    return Visitor.objects.select_for_update().filter(national_id_hash=lookup_hash).first()


def _create(
    *,
    data: VisitorData,
    national_id: str | None,
    lookup_hash: str | None,
    actor: Actor,
    actor_label: str | None,
) -> Visitor:
    visitor = Visitor(**{field: _clean(getattr(data, field)) for field in _PLAIN_FIELDS})
    changes: dict[str, str] = {field: "set" for field in _PLAIN_FIELDS if getattr(visitor, field)}
    if national_id is not None:
        visitor.national_id_encrypted = encrypt_national_id(national_id)
        visitor.national_id_hash = lookup_hash
        changes["national_id"] = "set"
    _record_consent(visitor)
    changes["consent"] = CONSENT_TEXT_VERSION
    if data.photo_jpeg:
        _set_photo(visitor, data.photo_jpeg)
        changes["photo"] = "set"
    try:
        visitor.save()
    except IntegrityError:
        # The caller recovers from this one (same ID registered concurrently): drop our file.
        if visitor.photo.name:
            visitor.photo.storage.delete(visitor.photo.name)
        raise
    record(
        actor=actor,
        actor_label=actor_label,
        action="visitor.registered",
        target=visitor,
        changes=changes,
    )
    logger.info("visitor %s registered", visitor.pk)
    return visitor


def _update(
    *,
    visitor: Visitor,
    data: VisitorData,
    actor: Actor,
    actor_label: str | None,
    may_update: bool,
) -> Visitor:
    """Register a returning visitor again; replace their identity only if ``may_update``."""
    changes: dict[str, str] = {}
    if visitor.consent_text_version != CONSENT_TEXT_VERSION:
        changes["consent"] = CONSENT_TEXT_VERSION
    _record_consent(visitor)
    differing = {
        field: value
        for field in _PLAIN_FIELDS
        if (value := _clean(getattr(data, field))) != getattr(visitor, field)
    }
    if may_update:
        for field, value in differing.items():
            setattr(visitor, field, value)
            changes[field] = "changed"
    elif differing:
        changes["details"] = "submitted details not applied (identity kept)"
    if data.photo_jpeg and (may_update or not visitor.photo):
        changes["photo"] = "updated" if visitor.photo else "set"
        _set_photo(visitor, data.photo_jpeg)
    elif data.photo_jpeg:
        changes["photo"] = "submitted photo not applied (identity kept)"
    visitor.save()
    record(
        actor=actor,
        actor_label=actor_label,
        action="visitor.returned",
        target=visitor,
        changes=changes,
    )
    logger.info("returning visitor %s registered again", visitor.pk)
    return visitor


def _clean(value: str | None) -> str:
    return " ".join((value or "").split())


def _record_consent(visitor: Visitor) -> None:
    visitor.consent_given_at = now()
    visitor.consent_text_version = CONSENT_TEXT_VERSION


def _set_photo(visitor: Visitor, photo_jpeg: bytes) -> None:
    """Attach a new face file; the old file is deleted once the change is committed."""
    old_name = visitor.photo.name if visitor.photo else ""
    visitor.photo.save("face.jpg", ContentFile(photo_jpeg), save=False)
    written = _new_photo_files.get()
    if written is not None and visitor.photo.name:
        written.append((visitor.photo.storage, visitor.photo.name))
    visitor.photo_updated_at = now()
    if old_name:
        storage = visitor.photo.storage
        transaction.on_commit(lambda: storage.delete(old_name))
