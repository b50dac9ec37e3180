"""Writes for visitors: registration (new or returning), the audited look-up of a returning
visitor at the desk, and reception's confirmation of an identity at arrival.

A returning visitor is found by the keyed hash of their national ID - one visitor identity,
one HCP person - and only desk staff who may look visitors up (reception, administrators)
ever learn who is behind a number or change that identity. A host or an invitation link
submitting a known number gets a record of its own, as for a new number; reception later
confirms at the desk whether it is the same person. Visitors are never merged by name.
Audit entries say which fields changed, never the values of the ID number or the face.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from propusk.audit.models import AuditEntry
from propusk.audit.services import record, record_view
from propusk.core import throttle
from propusk.core.time import now
from propusk.visitors.crypto import encrypt_national_id, national_id_lookup_hash
from propusk.visitors.models import Visitor
from propusk.visitors.names import with_clean_names
from propusk.visitors.national_id import normalize_national_id
from propusk.visitors.returning import MAX_AGE_SECONDS as COMPARISON_VALID_SECONDS
from propusk.visitors.selectors import (
    can_look_up_visitors,
    face_photo_bytes,
    visitor_by_national_id,
)

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
    visits (one HCP person). Who is behind an ID number is disclosed only to desk staff who
    may look visitors up (``may_update_identity``: reception, administrators); they see the
    person, so what they submit replaces the stored identity.

    Anyone else (a host, an invitation link) who submits an ID number that is already on file
    gets exactly what a new number gives: a new record holding what they submitted, marked
    with ``identity_match_hash``. The stored identity is neither shown, nor changed, nor
    attached to their visit; reception confirms at arrival whether it is the same person
    (``merge_into_stored_identity``), and only then do the visits move to the stored identity.
    """
    if not data.consent:
        raise ValidationError(
            _("Consent to the processing of personal data is required."), code="consent"
        )
    data = with_clean_names(data)  # no invisible or bidi characters, whatever the path
    national_id = normalize_national_id(data.national_id) if data.national_id else None
    lookup_hash = national_id_lookup_hash(national_id) if national_id else None
    may_update = may_update_identity(actor)
    arguments: dict[str, Any] = {
        "data": data,
        "national_id": national_id,
        "actor": actor,
        "actor_label": actor_label,
    }
    with delete_new_photos_on_failure(), transaction.atomic():
        visitor = _find_for_update(lookup_hash)
        if visitor is None:
            try:
                with transaction.atomic():
                    return _create(lookup_hash=lookup_hash, **arguments)
            except IntegrityError:
                # Someone registered the same ID number a moment ago.
                visitor = _find_for_update(lookup_hash)
                if visitor is None:
                    raise
        if not may_update:
            return _create(lookup_hash=None, identity_match_hash=lookup_hash, **arguments)
        return _update(visitor=visitor, data=data, actor=actor, actor_label=actor_label)


def may_update_identity(actor: Actor) -> bool:
    """Whether ``actor`` may see and replace a returning visitor's stored face and details."""
    return actor is not None and can_look_up_visitors(actor)


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


def look_up_visitor(*, national_id: str, actor: Actor, via: str = "id_number") -> Visitor | None:
    """Reception (or an administrator) asks: has the person with this national ID been here?

    The visitor, or None. Found by the keyed hash, never by decrypting. Only roles that may
    look up (``selectors.LOOKUP_ROLES``: not hosts, not security) - ``PermissionDenied``
    otherwise; a malformed number is a ``ValidationError`` and looks nothing up. Every
    look-up is audited as ``visitor.looked_up`` (found or not; the number itself is neither
    audited nor logged).

    Each user may look up ``PROPUSK_LOOKUP_LIMIT`` times per ``PROPUSK_LOOKUP_WINDOW_SECONDS``
    (every attempt counts, a malformed number too); beyond that ``LookupThrottled`` is raised,
    nothing is looked up and ``visitor.lookup_throttled`` is audited.

    ``via`` says where in the audit entry: "id_number" (Find on a registration page, the
    admin's Find by national ID), "visit_search" (the visit lists' ID number search).
    """
    _count_disclosure(actor)
    visitor = visitor_by_national_id(national_id)
    _audit_disclosure(actor, visitor, via=via)
    return visitor


def look_up_identity_match(*, claimant: Visitor, actor: Actor) -> Visitor | None:
    """The stored visitor whose ID number ``claimant`` was registered with, for reception to
    compare with the person at the desk (``Visitor.needs_identity_check``).

    A disclosure like ``look_up_visitor``: the same roles, the same throttle, audited as
    ``visitor.looked_up``. None when nobody holds that number any more (then confirming
    makes ``claimant`` the identity). ``ValidationError`` if there is nothing to confirm.
    """
    if not claimant.identity_match_hash:
        raise ValidationError(_("This visitor's identity needs no check."), code="no_match")
    _count_disclosure(actor)
    stored = Visitor.objects.filter(national_id_hash=claimant.identity_match_hash).first()
    _audit_disclosure(actor, stored, via="identity_check", claimant=claimant)
    return stored


def count_identity_disclosure(*, claimant: Visitor, actor: Actor) -> None:
    """Confirming that ``claimant`` is the stored person shows the stored identity (on the
    visit, from then on): a disclosure like the comparison. If ``actor`` compared this match
    (``look_up_identity_match``) within the last hour, that look-up was counted and audited
    already; otherwise it is looked up now - counted, audited, refused over the allowance
    (``LookupThrottled``) - so a decision can never stand in for a look-up the throttle
    refused or that was never made."""
    compared = AuditEntry.objects.filter(
        actor_id=getattr(actor, "pk", None),
        action="visitor.looked_up",
        changes__via="identity_check",
        changes__claimant=claimant.pk,
        at__gte=now() - timedelta(seconds=COMPARISON_VALID_SECONDS),
    )
    if actor is None or not compared.exists():
        look_up_identity_match(claimant=claimant, actor=actor)


def _count_disclosure(actor: Actor) -> None:
    """Check the role and count one look-up against the user's allowance (or refuse)."""
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


def _audit_disclosure(
    actor: Actor, visitor: Visitor | None, *, via: str, claimant: Visitor | None = None
) -> None:
    assert actor is not None  # noqa: S101 - _count_disclosure refused None
    changes: dict[str, Any] = {"via": via}
    if claimant is not None:
        changes["claimant"] = claimant.pk
    if visitor is None:
        changes["result"] = "not_found"
        record(actor=actor, action="visitor.looked_up", target=Visitor, changes=changes)
        logger.info("visitor look-up by user %s (%s): no match", actor.pk, via)
        return
    changes["result"] = "found"
    changes["photo"] = "on file" if visitor.photo else "none"
    record(actor=actor, action="visitor.looked_up", target=visitor, changes=changes)
    logger.info("visitor look-up by user %s (%s): visitor %s", actor.pk, via, visitor.pk)


def merge_into_stored_identity(
    *, claimant: Visitor, actor: Actor, take_submitted: bool
) -> tuple[Visitor, list[int]]:
    """Reception confirmed at the desk: ``claimant`` is the person stored with its ID number.

    Its visits move to the stored visitor (one identity, one HCP person) and ``claimant`` is
    deleted with its face file. ``take_submitted``: the details and face submitted with
    ``claimant`` replace the stored ones (the person looks different now); otherwise the
    stored ones stay. If nobody holds the number any more, ``claimant`` becomes the identity.
    Returns the visitor that now holds the visits and the ids of the visits moved. Call inside
    the caller's transaction (``visits.services.confirm_visitor_identity``), which re-checks
    the visit and announces the access change.
    """
    _require_identity_staff(actor)
    claimant = Visitor.objects.select_for_update().get(pk=claimant.pk)
    match_hash = claimant.identity_match_hash
    if not match_hash:
        raise ValidationError(_("This visitor's identity needs no check."), code="no_match")
    stored = _find_for_update(match_hash)
    if stored is None:
        claimant.national_id_hash, claimant.identity_match_hash = match_hash, None
        claimant.save(update_fields=["national_id_hash", "identity_match_hash", "updated_at"])
        record(
            actor=actor,
            action="visitor.identity_confirmed",
            target=claimant,
            changes={"result": "became the identity (no other visitor holds the number)"},
        )
        return claimant, []
    changes: dict[str, Any] = {"merged_from": claimant.pk}
    if take_submitted:
        for field in _PLAIN_FIELDS:
            if getattr(claimant, field) != getattr(stored, field):
                setattr(stored, field, getattr(claimant, field))
                changes[field] = "changed"
        submitted_face = _face_bytes(claimant)
        if submitted_face is not None:
            _set_photo(stored, submitted_face)
            changes["photo"] = "updated"
    else:
        changes["details"] = "kept"
        submitted_face = None if stored.photo else _face_bytes(claimant)
        if submitted_face is not None:
            # The stored face was deleted after the retention: the one just taken is the
            # only face there is (a visit is never given access without one).
            _set_photo(stored, submitted_face)
            changes["photo"] = "set (none on file)"
    _record_consent(stored)
    stored.save()
    moved = list(claimant.visits.values_list("pk", flat=True))
    claimant.visits.update(visitor=stored)
    changes["visits"] = moved
    _delete_visitor(claimant)
    record(actor=actor, action="visitor.identity_confirmed", target=stored, changes=changes)
    logger.info("visitor %s merged into visitor %s at the desk", claimant.pk, stored.pk)
    return stored, moved


def reject_identity_match(*, claimant: Visitor, actor: Actor) -> Visitor:
    """Reception found at the desk that ``claimant`` is not the person stored with the ID
    number it was registered with: the number is removed from ``claimant`` (it is not
    theirs); its visits stay with it, and the stored visitor is untouched."""
    _require_identity_staff(actor)
    claimant = Visitor.objects.select_for_update().get(pk=claimant.pk)
    if not claimant.identity_match_hash:
        raise ValidationError(_("This visitor's identity needs no check."), code="no_match")
    claimant.identity_match_hash = None
    claimant.national_id_encrypted = ""
    claimant.save(update_fields=["identity_match_hash", "national_id_encrypted", "updated_at"])
    record(
        actor=actor,
        action="visitor.identity_rejected",
        target=claimant,
        changes={"national_id": "removed (not this person's)"},
    )
    return claimant


def _require_identity_staff(actor: Actor) -> None:
    if not may_update_identity(actor):
        raise PermissionDenied(_("Only reception can confirm a visitor's identity."))


def _face_bytes(visitor: Visitor) -> bytes | None:
    if not visitor.photo:
        return None
    with visitor.photo.open("rb") as stored:
        return stored.read()


def _delete_visitor(visitor: Visitor) -> None:
    """Delete a visitor row now and its face file once the deletion is committed."""
    from propusk.passages.services import delete_visitor_pictures

    photo_name = visitor.photo.name if visitor.photo else ""
    storage = visitor.photo.storage
    delete_visitor_pictures(visitor.pk)  # the camera pictures of its passages go with the face
    visitor.delete()
    if photo_name:
        transaction.on_commit(lambda: storage.delete(photo_name))


def disclose_face(
    *, visitor: Visitor, actor: Actor, visit_id: int | None = None, listed: bool = False
) -> bytes | None:
    """The visitor's stored face for ``actor``, audited as ``visitor.photo_viewed`` (who,
    whose, when, through which visit); None if there is no face. The caller has checked that
    ``actor`` may see it (``visits.permissions.can_view_face``, or a look-up grant).
    ``listed``: a thumbnail in a list, audited once a day per viewer and face
    (``audit.services.record_view``)."""
    data = face_photo_bytes(visitor)
    if data is None:
        return None
    record_view(
        actor=actor,
        action="visitor.photo_viewed",
        target=visitor,
        changes={"visit": visit_id} if visit_id is not None else {"via": "look-up"},
        listed=listed,
    )
    return data


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
    identity_match_hash: str | None = None,
) -> Visitor:
    visitor = Visitor(**{field: _clean(getattr(data, field)) for field in _PLAIN_FIELDS})
    changes: dict[str, str] = {field: "set" for field in _PLAIN_FIELDS if getattr(visitor, field)}
    if national_id is not None:
        visitor.national_id_encrypted = encrypt_national_id(national_id)
        visitor.national_id_hash = lookup_hash
        visitor.identity_match_hash = identity_match_hash
        changes["national_id"] = "set"
        if identity_match_hash is not None:
            changes["identity"] = "matches a stored visitor: to confirm at the desk"
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
) -> Visitor:
    """Register a returning visitor again at the desk: what was submitted replaces the
    stored details; a new photo replaces the stored face (none submitted: the face is kept)."""
    changes: dict[str, str] = {}
    if visitor.consent_text_version != CONSENT_TEXT_VERSION:
        changes["consent"] = CONSENT_TEXT_VERSION
    _record_consent(visitor)
    for field in _PLAIN_FIELDS:
        value = _clean(getattr(data, field))
        if value != getattr(visitor, field):
            setattr(visitor, field, value)
            changes[field] = "changed"
    if data.photo_jpeg:
        changes["photo"] = "updated" if visitor.photo else "set"
        _set_photo(visitor, data.photo_jpeg)
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
    visitor.face_deleted_at = None  # a new face after the retention deleted the old one
    if old_name:
        storage = visitor.photo.storage
        transaction.on_commit(lambda: storage.delete(old_name))


def replace_photo(*, visitor: Visitor, photo_jpeg: bytes, actor: Actor) -> Visitor:
    """A new face for ``visitor`` (already checked and normalised: ``photos.normalize_face_photo``),
    taken at the desk to re-enrol the face in HCP. Call it inside the caller's transaction,
    on a locked row, with the whole transaction inside ``delete_new_photos_on_failure``: the
    old file is deleted once the change commits, the new one if it does not. Audited without
    the face."""
    had_photo = bool(visitor.photo)
    with delete_new_photos_on_failure():
        _set_photo(visitor, photo_jpeg)
        visitor.save(update_fields=["photo", "photo_updated_at", "face_deleted_at"])
    record(
        actor=actor,
        action="visitor.photo_replaced",
        target=visitor,
        changes={"photo": ["on file" if had_photo else "none", "new"]},
    )
    logger.info("visitor %s: face photo replaced", visitor.pk)
    return visitor
