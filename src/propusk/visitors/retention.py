"""Personal data retention: faces and identities are not kept for ever (docs/privacy.md).

Two steps, each counted from the end of the visitor's last visit
(``selectors.last_visit_end``) and taken only when nothing of the visitor is
pending - no visit awaiting confirmation, expected or checked in, no unresolved incident
(``selectors.retention_blockers``):

- after ``PROPUSK_FACE_RETENTION_DAYS`` the **face** goes: the face file (and any older file
  left in the visitor's face directory), the ``photo`` field, and the camera pictures of the
  visitor's passages (``passages.services.delete_visitor_pictures``). HCP's copy goes with the
  HCP person, which the access engine deletes ``PROPUSK_ACCESS_RETENTION_HOURS`` after the
  access ended (docs/access-engine.md "Cleanup after the retention"); for an erased visitor
  at its next run, once the revocation is on the devices.
- after ``PROPUSK_VISITOR_DATA_RETENTION_DAYS`` the visitor is **anonymised**: names, phone,
  email, the encrypted ID number and both of its look-up hashes are cleared, the student ID
  of the visits too, the visitor's name is taken out of notifications and of Django's admin
  log. The row stays (``erased_at`` set; pages show "Erased visitor") with its visits and
  passages, for the site's statistics and audit. The ID number no longer finds anyone: the
  same person registering again is a new visitor.

``purge_personal_data`` does both for every due visitor (beat, every ten minutes);
``erase_visitor`` does both at once for one visitor on request (an administrator,
``manage.py erase_visitor``).
Each visitor is handled in its own transaction on its locked row, re-checked there, so a run
is idempotent and two runs at once neither fail nor do anything twice. Audit entries carry
ids and counts, never names, numbers or faces.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from propusk.audit.services import record
from propusk.core.time import now as current_time
from propusk.visitors.models import Visitor
from propusk.visitors.selectors import (
    can_erase_visitors,
    faces_due,
    identities_due,
    retention_blockers,
)
from propusk.visitors.services import Actor

logger = logging.getLogger(__name__)

# Visitors looked at per query; each is then handled in its own short transaction.
RETENTION_BATCH = 200
_IDENTITY_FIELDS = ("family_name", "given_name", "middle_name", "phone", "email")
# Keys of a notification's parameters that hold a visitor's name (notifications.rendering).
_NAME_PARAMS = ("visitor_name", "name")
REASON_MAX_LENGTH = 300
# At most this many visitor ids in a purge run's audit entry.
AUDIT_MAX_IDS = 1000


class ErasureRefused(ValidationError):
    """The visitor's data cannot be erased now; the message says what to do first."""


@dataclass
class PurgeResult:
    """What a purge run did (or, dry, would do): visitor ids and counts."""

    faces_deleted: list[int] = field(default_factory=list)
    anonymised: list[int] = field(default_factory=list)
    passage_pictures: int = 0

    @property
    def did_anything(self) -> bool:
        return bool(self.faces_deleted or self.anonymised or self.passage_pictures)

    def as_dict(self) -> dict[str, object]:
        return {
            "faces_deleted": len(self.faces_deleted),
            "anonymised": len(self.anonymised),
            "passage_pictures": self.passage_pictures,
        }


@dataclass(frozen=True)
class ErasureResult:
    visitor_id: int
    face_deleted: bool
    passage_pictures: int
    visits_kept: int
    hcp_person: str


# --- The periodic purge ----------------------------------------------------------------------


def purge_plan(*, now: datetime | None = None) -> PurgeResult:
    """What ``purge_personal_data`` would do now (``--dry-run``): changes nothing. A visitor
    due for anonymisation is listed there only (it loses its face too)."""
    moment = now or current_time()
    anonymise = list(identities_due(now=moment).order_by("pk").values_list("pk", flat=True))
    faces = faces_due(now=moment).exclude(pk__in=anonymise).order_by("pk")
    return PurgeResult(faces_deleted=list(faces.values_list("pk", flat=True)), anonymised=anonymise)


def purge_personal_data(
    *, now: datetime | None = None, batch_size: int = RETENTION_BATCH
) -> PurgeResult:
    """Anonymise the visitors past ``PROPUSK_VISITOR_DATA_RETENTION_DAYS``, then delete the
    faces past ``PROPUSK_FACE_RETENTION_DAYS``: all that are due, a batch of ids at a time
    (keyset by id, so a run always ends), each visitor in its own transaction. Audited per
    visitor (``visitor.anonymised``, ``visitor.face_expired``) and once for the run
    (``visitor.retention_purge``, with counts and ids) when it did anything."""
    moment = now or current_time()
    result = PurgeResult()
    for visitor_id in _due_ids(lambda: identities_due(now=moment), batch_size):
        pictures = _anonymise_if_due(visitor_id, now=moment)
        if pictures is not None:
            result.anonymised.append(visitor_id)
            result.passage_pictures += pictures
    for visitor_id in _due_ids(lambda: faces_due(now=moment), batch_size):
        pictures = _delete_face_if_due(visitor_id, now=moment)
        if pictures is not None:
            result.faces_deleted.append(visitor_id)
            result.passage_pictures += pictures
    if result.did_anything:
        record(
            actor=None,
            action="visitor.retention_purge",
            target=Visitor,
            changes={
                **result.as_dict(),
                # The first ids (a first run on an old site may handle thousands): each
                # visitor's own entry says the rest.
                "anonymised_ids": result.anonymised[:AUDIT_MAX_IDS],
                "face_deleted_ids": result.faces_deleted[:AUDIT_MAX_IDS],
            },
        )
        logger.info(
            "personal data retention: %d visitor(s) anonymised, %d face(s) deleted, "
            "%d passage picture(s) deleted",
            len(result.anonymised),
            len(result.faces_deleted),
            result.passage_pictures,
        )
    return result


def _due_ids(due: Callable[[], QuerySet[Visitor]], batch_size: int) -> Iterator[int]:
    """Every due id, read ``batch_size`` at a time in id order (the next batch is read once
    this one is handled)."""
    after = 0
    while True:
        batch = list(
            due().filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1]


def _lock(visitor_id: int) -> Visitor | None:
    # skip_locked: a visitor another run (or a registration) holds is left to that one; the
    # next run sees it again if it is still due. Ignored where rows cannot be locked (SQLite,
    # whose write transactions are serialised anyway).
    return Visitor.objects.select_for_update(skip_locked=True).filter(pk=visitor_id).first()


def _delete_face_if_due(visitor_id: int, *, now: datetime) -> int | None:
    """Delete one visitor's face if it is still due (checked on the locked row); the number of
    passage pictures deleted with it, or None if nothing was done."""
    with transaction.atomic():
        visitor = _lock(visitor_id)
        if visitor is None or not faces_due(now=now).filter(pk=visitor_id).exists():
            return None
        pictures = _delete_face(visitor, now=now)
        record(
            actor=None,
            action="visitor.face_expired",
            target=visitor,
            changes={"photo": "deleted", "passage_pictures": pictures},
        )
    logger.info("visitor %s: face deleted after the retention", visitor_id)
    return pictures


def _anonymise_if_due(visitor_id: int, *, now: datetime) -> int | None:
    with transaction.atomic():
        visitor = _lock(visitor_id)
        if visitor is None or not identities_due(now=now).filter(pk=visitor_id).exists():
            return None
        had_face = bool(visitor.photo)
        done = _anonymise(visitor, now=now)
        record(
            actor=None,
            action="visitor.anonymised",
            target=visitor,
            changes={
                "photo": "deleted" if had_face else "none",
                "passage_pictures": done.passage_pictures,
                "visits_kept": done.visits_kept,
                "notifications_scrubbed": done.notifications_scrubbed,
            },
        )
    logger.info("visitor %s: anonymised after the retention", visitor_id)
    return done.passage_pictures


# --- Erasure on request ----------------------------------------------------------------------


def erase_visitor(
    *, visitor: Visitor, actor: Actor, reason: str, actor_label: str | None = None
) -> ErasureResult:
    """Erase a visitor's personal data now (the person asked, or they were registered by
    mistake): the face and the identity at once, as the retention would.

    ``actor``: an administrator (``selectors.ERASE_ROLES``; anyone else ``PermissionDenied``),
    or None for the server's operator (``manage.py erase_visitor``, with ``actor_label``).
    ``reason`` is required. Refused (``ErasureRefused``) while the visitor has a visit that is
    not over - awaiting confirmation, expected or checked in: cancel it or check it out
    first - or an unresolved incident; ``ValidationError`` if already erased. Audited as
    ``visitor.erased`` (who, when, the reason, counts; nothing of the person).
    """
    if actor is not None and not can_erase_visitors(actor):
        raise PermissionDenied(_("Only an administrator can erase a visitor's personal data."))
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError(_("Say why the data is erased."), code="reason_required")
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError(
            _("The reason is too long (at most %(max)d characters)."),
            code="reason_too_long",
            params={"max": REASON_MAX_LENGTH},
        )
    moment = current_time()
    with transaction.atomic():
        locked = Visitor.objects.select_for_update().get(pk=visitor.pk)
        if locked.is_erased:
            raise ValidationError(
                _("This visitor's personal data has already been erased."), code="already_erased"
            )
        blockers = retention_blockers(locked.pk)
        if blockers:
            raise ErasureRefused(_refusal(blockers.visit_ids, blockers.incident_ids))
        had_face = bool(locked.photo)
        done = _anonymise(locked, now=moment)
        hcp_person = _hcp_person_state(locked.person_code)
        record(
            actor=actor,
            actor_label=actor_label,
            action="visitor.erased",
            target=locked,
            changes={
                "reason": reason,
                "photo": "deleted" if had_face else "none",
                "passage_pictures": done.passage_pictures,
                "visits_kept": done.visits_kept,
                "notifications_scrubbed": done.notifications_scrubbed,
                "hcp_person": hcp_person,
            },
        )
    logger.info("visitor %s: personal data erased on request", locked.pk)
    visitor.refresh_from_db()
    return ErasureResult(
        visitor_id=locked.pk,
        face_deleted=had_face,
        passage_pictures=done.passage_pictures,
        visits_kept=done.visits_kept,
        hcp_person=hcp_person,
    )


def _refusal(visit_ids: tuple[int, ...], incident_ids: tuple[int, ...]) -> str:
    parts = []
    if visit_ids:
        parts.append(
            ngettext(
                "%(count)d visit is not over (awaiting confirmation, expected or checked in): "
                "cancel it or check the visitor out first",
                "%(count)d visits are not over (awaiting confirmation, expected or checked "
                "in): cancel them or check the visitor out first",
                len(visit_ids),
            )
            % {"count": len(visit_ids)}
        )
    if incident_ids:
        parts.append(
            ngettext(
                "%(count)d incident about this visitor is not resolved: resolve it first",
                "%(count)d incidents about this visitor are not resolved: resolve them first",
                len(incident_ids),
            )
            % {"count": len(incident_ids)}
        )
    return str(_("The personal data cannot be erased yet: %(why)s.") % {"why": "; ".join(parts)})


def _hcp_person_state(person_code: str) -> str:
    """Where the visitor's HCP person (and its face there) stands, for the audit entry."""
    from propusk.access.models import HcpPerson

    person = HcpPerson.objects.filter(person_code=person_code).first()
    if person is None or (not person.person_id and not person.add_sent_at):
        return "never enrolled"
    if person.deleted_at is not None or not person.person_id:
        return "deleted"
    return "to be deleted by the access engine at its next run"


# --- The deletions ---------------------------------------------------------------------------


def _delete_face(visitor: Visitor, *, now: datetime) -> int:
    """Clear the face of a locked visitor and delete its camera pictures; the files go once
    the transaction commits. Returns how many passage pictures went."""
    from propusk.passages.services import delete_visitor_pictures

    storage = visitor.photo.storage
    names = _face_files(storage, visitor)
    visitor.photo = ""
    visitor.photo_updated_at = None
    visitor.face_deleted_at = now
    visitor.save(update_fields=["photo", "photo_updated_at", "face_deleted_at", "updated_at"])
    pictures = delete_visitor_pictures(visitor.pk)
    if names:
        transaction.on_commit(lambda: _remove_files(storage, names))
    return pictures


def _face_files(storage: Storage, visitor: Visitor) -> list[str]:
    """The face file and any older one left in the visitor's face directory (a process that
    died between a commit and the deletion of the replaced file). Listed now, on the locked
    row: a file written later (a new face after a return) is not among them."""
    names = [visitor.photo.name] if visitor.photo and visitor.photo.name else []
    try:
        _, files = storage.listdir(visitor.person_code)
    except FileNotFoundError:
        return names
    names += [f"{visitor.person_code}/{name}" for name in files]
    return sorted(set(names))


def _remove_files(storage: Storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            # Logged with the file's name only (a random name, no person): the next
            # anonymisation of this visitor lists the directory again.
            logger.exception("could not delete the face file %s", name)
    with contextlib.suppress(OSError):
        Path(storage.path(names[0])).parent.rmdir()  # only if empty


@dataclass(frozen=True)
class _Anonymised:
    passage_pictures: int
    visits_kept: int
    notifications_scrubbed: int


def _anonymise(visitor: Visitor, *, now: datetime) -> _Anonymised:
    """Anonymise a locked visitor, its face included."""
    from propusk.passages.services import delete_visitor_pictures

    if visitor.photo:
        pictures = _delete_face(visitor, now=now)
    else:
        # The face went earlier, with its pictures; none can have come since, but check. A
        # face file whose deletion failed then is still in the visitor's directory: it goes.
        pictures = delete_visitor_pictures(visitor.pk)
        storage = visitor.photo.storage
        leftovers = _face_files(storage, visitor)
        if leftovers:
            transaction.on_commit(lambda: _remove_files(storage, leftovers))
    for name in _IDENTITY_FIELDS:
        setattr(visitor, name, "")
    visitor.national_id_encrypted = ""
    visitor.national_id_hash = None
    visitor.identity_match_hash = None
    visitor.erased_at = now
    visitor.save()
    visit_ids = _scrub_visits(visitor)
    notifications = _scrub_notifications(visit_ids)
    _scrub_admin_log(visitor, visit_ids)
    return _Anonymised(
        passage_pictures=pictures, visits_kept=len(visit_ids), notifications_scrubbed=notifications
    )


def _scrub_visits(visitor: Visitor) -> list[int]:
    """The visits stay; the student ID (a university's identifier of the person) goes."""
    from propusk.visits.models import Visit

    visits = Visit.objects.filter(visitor=visitor)
    visits.exclude(student_id="").update(student_id="")
    return list(visits.order_by("pk").values_list("pk", flat=True))


def _scrub_notifications(visit_ids: list[int]) -> int:
    """Notifications about the visits name the visitor (``params.visitor_name``): the name is
    taken out; they then read "A visitor came in..." until their own retention deletes them."""
    from propusk.notifications.models import Notification

    if not visit_ids:
        return 0
    scrubbed = 0
    about = Notification.objects.filter(
        Q(visit_id__in=visit_ids) | Q(params__visit_id__in=visit_ids)
    )
    for notification in about.only("pk", "params"):
        params = dict(notification.params or {})
        if not any(key in params for key in _NAME_PARAMS):
            continue
        for key in _NAME_PARAMS:
            params.pop(key, None)
        Notification.objects.filter(pk=notification.pk).update(params=params)
        scrubbed += 1
    return scrubbed


def _scrub_admin_log(visitor: Visitor, visit_ids: list[int]) -> None:
    """Django's admin log keeps each edited object's ``str()`` - a visitor's or a visit's is
    the visitor's name: it becomes "visitor #id" / "visit #id"."""
    from propusk.visits.models import Visit

    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Visitor), object_id=str(visitor.pk)
    ).update(object_repr=f"visitor #{visitor.pk}")
    if visit_ids:
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Visit),
            object_id__in=[str(pk) for pk in visit_ids],
        ).update(object_repr=Concat(Value("visit #"), F("object_id"), output_field=CharField()))
