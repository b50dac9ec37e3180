"""Writes for passages and incidents: settling a visit from its passages, incidents and who is
told about them, passage pictures (stored, deleted; their fetch schedule is ``pictures``), and
the periodic sweeps (the end of a re-entry grace, overstays).

Everything about a visit is decided from the visit's recorded passages (``rules.plan_visit``)
under the visit's row lock, so events processed in any order, or twice, end the same way.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from propusk.access.windows import visit_window
from propusk.accounts.roles import Role
from propusk.audit.services import record, record_view
from propusk.core.time import now as current_time
from propusk.events.models import Direction
from propusk.notifications.kinds import Kind
from propusk.notifications.selectors import users_with_roles
from propusk.notifications.services import notify
from propusk.passages import pictures, selectors
from propusk.passages.models import (
    DenialReason,
    Incident,
    IncidentKind,
    IncidentState,
    Passage,
    PictureState,
)
from propusk.passages.models import picture_storage as passage_picture_storage
from propusk.passages.rules import Fact, Plan, Way, plan_visit
from propusk.visits import services as visit_services
from propusk.visits.models import Visit, VisitStatus

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | AnonymousUser | None

# The audit log names HikCentral's turnstile as the one who acted on a passage.
TURNSTILE = "hcp-turnstile"


# --- Settling a visit from its passages ------------------------------------------------


def plan_for(visit: Visit) -> tuple[Plan, dict[str, Passage]]:
    """The plan of a visit from its granted passages, and the passages by event id.

    A visit checked in at the desk before any entry through a door counts as entered then,
    so its first exit is not an exit without an entry."""
    passages = {p.event.event_id: p for p in selectors.visit_passages(visit) if p.granted}
    facts = [Fact(p.happened_at, Way(p.direction), key) for key, p in passages.items()]
    if visit.checked_in_at is not None and not any(
        fact.way != Way.OUT and fact.at <= visit.checked_in_at for fact in facts
    ):
        facts.append(Fact(visit.checked_in_at, Way.IN, ""))
    grace = timedelta(minutes=visit.access_policy.reentry_grace_minutes)
    return plan_visit(facts, single_pass=visit.single_pass, reentry_grace=grace), passages


def settle_visit(visit: Visit, *, now: datetime | None = None) -> Visit:
    """Bring the visit to what its passages say: checked in at the first entry, checked out
    at the exit that ends a single-pass visit once due, and the exits without an entry as
    incidents. Call inside a transaction; the visit row is locked here. A final visit is
    never changed."""
    moment = now or current_time()
    locked = (
        Visit.objects.select_for_update()
        .select_related("access_policy", "visitor", "host")
        .get(pk=visit.pk)
    )
    plan, passages = plan_for(locked)
    _sync_exits_without_entry(locked, plan, passages)
    if plan.check_in_at is not None:
        if locked.status == VisitStatus.AWAITING:
            _check_in(locked, plan.check_in_at, passages)
        elif (
            locked.status in (VisitStatus.CHECKED_IN, VisitStatus.CHECKED_OUT)
            and locked.checked_in_at is not None
            and plan.check_in_at < locked.checked_in_at
        ):
            try:
                visit_services.correct_check_in_time(visit=locked, at=plan.check_in_at, actor=None)
            except visit_services.VisitTransitionError as exc:
                logger.warning("visit %s: check-in time not corrected (%s)", locked.pk, exc.code)
    if (
        plan.check_out_at is not None
        and plan.check_out_due is not None
        and plan.check_out_due <= moment
    ):
        if locked.status == VisitStatus.CHECKED_IN:
            _check_out(locked, plan.check_out_at, passages)
        elif (
            locked.status == VisitStatus.CHECKED_OUT
            and locked.checked_out_at is not None
            and plan.check_out_at < locked.checked_out_at
        ):
            # The exit that ended the visit arrived after a later one had closed it.
            try:
                visit_services.correct_check_out_time(
                    visit=locked, at=plan.check_out_at, actor=None
                )
            except visit_services.VisitTransitionError as exc:
                logger.warning("visit %s: check-out time not corrected (%s)", locked.pk, exc.code)
    return locked


def _check_in(visit: Visit, at: datetime, passages: dict[str, Passage]) -> None:
    entry = next((p for p in passages.values() if p.happened_at == at and p.is_entry), None)
    try:
        visit_services.check_in(visit=visit, actor=None, at=at)
    except visit_services.VisitTransitionError as exc:
        # The turnstile let the visitor in, but the visit's window (changed since HCP was
        # told, say) does not hold the moment: recorded on the visit, staff check in by hand.
        record(
            actor=None,
            actor_label=TURNSTILE,
            action="passage.check_in_refused",
            target=visit,
            changes={"passage": entry.pk if entry else None, "reason": exc.code},
        )
        logger.warning("visit %s: a granted entry could not check it in (%s)", visit.pk, exc.code)
        return
    record(
        actor=None,
        actor_label=TURNSTILE,
        action="passage.checked_in",
        target=visit,
        changes={"passage": entry.pk if entry else None, "at": at},
    )
    if entry is not None:
        notify(
            recipients=[visit.host],
            kind=Kind.GUEST_ARRIVED,
            key=f"passage:{entry.pk}",
            params=_params(visit, entry),
            visit=visit,
        )


def _check_out(visit: Visit, at: datetime, passages: dict[str, Passage]) -> None:
    exit_ = next(
        (p for p in passages.values() if p.happened_at == at and p.direction == Direction.OUT),
        None,
    )
    try:
        visit_services.check_out(visit=visit, actor=None, at=at)
    except visit_services.VisitTransitionError as exc:
        record(
            actor=None,
            actor_label=TURNSTILE,
            action="passage.check_out_refused",
            target=visit,
            changes={"passage": exit_.pk if exit_ else None, "reason": exc.code},
        )
        logger.warning("visit %s: an exit could not check it out (%s)", visit.pk, exc.code)
        return
    record(
        actor=None,
        actor_label=TURNSTILE,
        action="passage.checked_out",
        target=visit,
        changes={"passage": exit_.pk if exit_ else None, "at": at, "single_pass": True},
    )
    if exit_ is not None:
        notify(
            recipients=[visit.host],
            kind=Kind.VISIT_CHECKED_OUT_BY_EXIT,
            key=f"passage:{exit_.pk}",
            params=_params(visit, exit_),
            visit=visit,
        )


def notify_left(visit: Visit, passage: Passage) -> None:
    """A multi-pass visitor went out (the visit stays open): the host is told, once per
    passage."""
    notify(
        recipients=[visit.host],
        kind=Kind.GUEST_LEFT,
        key=f"passage:{passage.pk}",
        params=_params(visit, passage),
        visit=visit,
    )


def _sync_exits_without_entry(visit: Visit, plan: Plan, passages: dict[str, Passage]) -> None:
    """An incident for each exit with no entry before it; one whose entry turned up later
    (events out of order) is resolved by the system."""
    wanted = {passages[key].pk for key in plan.exits_without_entry if key in passages}
    for passage_id in wanted:
        passage = next(p for p in passages.values() if p.pk == passage_id)
        incident, created = _open_incident(
            key=f"passage:{passage.pk}:exit_without_entry",
            kind=IncidentKind.EXIT_WITHOUT_ENTRY,
            passage=passage,
            visit=visit,
        )
        if created:
            notify(
                recipients=users_with_roles(Role.SECURITY),
                kind=Kind.EXIT_WITHOUT_ENTRY,
                key=f"incident:{incident.pk}",
                params=_params(visit, passage),
                visit=visit,
                incident_id=incident.pk,
            )
    stale = Incident.objects.filter(
        visit=visit, kind=IncidentKind.EXIT_WITHOUT_ENTRY, state=IncidentState.OPEN
    ).exclude(passage_id__in=wanted)
    for incident in stale:
        _resolve_by_system(incident, note="the entry was received after the exit")


# --- Incidents ---------------------------------------------------------------------------


def _open_incident(
    *,
    key: str,
    kind: IncidentKind,
    passage: Passage | None,
    visit: Visit | None,
    happened_at: datetime | None = None,
    reason: str = "",
) -> tuple[Incident, bool]:
    """The incident named ``key``, created if new (True). One per key, however often asked."""
    existing = Incident.objects.filter(key=key).first()
    if existing is not None:
        return existing, False
    at = happened_at or (passage.happened_at if passage else current_time())
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                key=key,
                kind=kind,
                door_index_code=passage.door_index_code if passage else "",
                door_name=passage.door_name if passage else "",
                happened_at=at,
                last_seen_at=at,
                visit=visit,
                passage=passage,
                denial_reason=reason,
            )
    except IntegrityError:
        return Incident.objects.get(key=key), False
    record(
        actor=None,
        actor_label=TURNSTILE,
        action="incident.opened",
        target=incident,
        changes={"kind": kind, "visit": visit.pk if visit else None, "reason": reason},
    )
    return incident, True


def _resolve_by_system(incident: Incident, *, note: str) -> None:
    incident.state = IncidentState.RESOLVED
    incident.resolved_at = current_time()
    incident.note = note[:300]
    incident.save(update_fields=["state", "resolved_at", "note"])
    record(
        actor=None,
        action="incident.resolved",
        target=incident,
        changes={"state": [IncidentState.OPEN, IncidentState.RESOLVED], "note": note},
    )


def denial_incident(passage: Passage, visit: Visit | None) -> Incident:
    """A refusal naming one of our visitors: an incident, and the visit's host and security
    told (once per passage)."""
    incident, created = _open_incident(
        key=f"passage:{passage.pk}:denied",
        kind=IncidentKind.DENIED,
        passage=passage,
        visit=visit,
        reason=passage.denial_reason,
    )
    if created:
        recipients = list(users_with_roles(Role.SECURITY))
        if visit is not None:
            recipients.append(visit.host)
        params = _params(visit, passage)
        params["reason"] = passage.denial_reason
        notify(
            recipients=recipients,
            kind=Kind.GUEST_DENIED,
            key=f"passage:{passage.pk}",
            params=params,
            visit=visit,
            incident_id=incident.pk,
        )
    return incident


def unrecognised_face_incident(passage: Passage) -> Incident:
    """A face the door did not recognise: reception and security told at once; the incident
    page shows the camera picture and the visitors expected around that time."""
    incident, created = _open_incident(
        key=f"passage:{passage.pk}:face",
        kind=IncidentKind.FACE_NOT_RECOGNISED,
        passage=passage,
        visit=None,
        reason=DenialReason.NOT_RECOGNISED,
    )
    if created:
        notify(
            recipients=users_with_roles(Role.RECEPTION, Role.SECURITY),
            kind=Kind.FACE_NOT_RECOGNISED,
            key=f"incident:{incident.pk}",
            params={
                "door_name": passage.door_name or passage.door_index_code,
                "at": passage.happened_at,
            },
            incident_id=incident.pk,
        )
    return incident


def escalate_repeated_failures(passage: Passage) -> Incident | None:
    """``PROPUSK_PASSAGE_FAILURE_THRESHOLD`` refusals at one door within
    ``PROPUSK_PASSAGE_FAILURE_WINDOW_MINUTES``: one incident per burst (a refusal within the
    window of the burst's first or last one extends it), and security told once per burst.
    The refusals may arrive in any order."""
    window = timedelta(minutes=settings.PROPUSK_PASSAGE_FAILURE_WINDOW_MINUTES)
    threshold = settings.PROPUSK_PASSAGE_FAILURE_THRESHOLD
    if threshold < 1 or not passage.door_index_code:
        return None
    door = passage.door_index_code
    at = passage.happened_at
    _serialise_door(door)
    burst = (
        Incident.objects.select_for_update()
        .filter(
            kind=IncidentKind.REPEATED_FAILURES,
            door_index_code=door,
            happened_at__lte=at + window,
            last_seen_at__gte=at - window,
        )
        .order_by("happened_at")
        .first()
    )
    if burst is not None:
        start = min(burst.happened_at, at)
        end = max(burst.last_seen_at, at)
        burst.count = Passage.objects.filter(selectors.recent_failures_q(door, start, end)).count()
        burst.happened_at, burst.last_seen_at = start, end
        burst.save(update_fields=["count", "happened_at", "last_seen_at"])
        return burst
    # Refusals may be handled in any order: look on both sides of this one for
    # ``threshold`` refusals within one window.
    failures = list(
        Passage.objects.filter(
            selectors.recent_failures_q(door, at - window, at + window)
        ).order_by("happened_at", "pk")
    )
    starts = [
        index
        for index in range(len(failures) - threshold + 1)
        if failures[index + threshold - 1].happened_at - failures[index].happened_at <= window
    ]
    if not starts:
        return None
    failures = failures[starts[0] :]
    first = failures[0]
    at = max(at, failures[-1].happened_at)
    incident, created = _open_incident(
        key=f"burst:{door}:{first.pk}",
        kind=IncidentKind.REPEATED_FAILURES,
        passage=passage,
        visit=None,
        happened_at=first.happened_at,
    )
    incident.count = len(failures)
    incident.last_seen_at = at
    incident.save(update_fields=["count", "last_seen_at"])
    if created:
        notify(
            recipients=users_with_roles(Role.SECURITY),
            kind=Kind.REPEATED_FAILURES,
            key=f"incident:{incident.pk}",
            params={
                "door_name": passage.door_name or door,
                "at": first.happened_at,
                "count": len(failures),
            },
            incident_id=incident.pk,
        )
    return incident


def _serialise_door(door: str) -> None:
    """Refusals at one door are judged one transaction at a time, so two workers never open
    two bursts for one (PostgreSQL: a transaction-scoped advisory lock per door; SQLite runs
    one writing transaction at a time anyway)."""
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(door.encode(), digest_size=8).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def flag_overstays(*, now: datetime | None = None) -> int:
    """Visitors still inside (last passage an entry) more than
    ``PROPUSK_PASSAGE_OVERSTAY_MINUTES`` after their access window ended: an incident per
    visit, the host and security told once. Looks at visits that ended within the last day
    (the expiry sweep may already have closed them). Returns how many were flagged."""
    moment = now or current_time()
    grace = timedelta(minutes=settings.PROPUSK_PASSAGE_OVERSTAY_MINUTES)
    horizon = moment - timedelta(days=1)
    candidates = (
        Visit.objects.filter(
            status__in=[VisitStatus.CHECKED_IN, VisitStatus.CHECKED_OUT],
            checked_in_at__isnull=False,
            planned_end__lte=moment,
            planned_end__gte=horizon - timedelta(hours=24),
            passages__granted=True,
        )
        .exclude(incidents__kind=IncidentKind.OVERSTAY)
        .select_related("access_policy", "visitor", "host")
        .distinct()
    )
    flagged = 0
    for visit in candidates:
        closes = visit_window(visit)[1]
        if closes + grace > moment or closes < horizon:
            continue
        last = selectors.last_granted(visit)
        if last is None or not selectors.is_inside(visit):
            continue
        if visit.checked_out_at is not None and visit.checked_out_at < closes:
            continue  # checked out (at the desk, by an exit) before the window ended
        with transaction.atomic():
            incident, created = _open_incident(
                key=f"overstay:{visit.pk}",
                kind=IncidentKind.OVERSTAY,
                passage=last,
                visit=visit,
                happened_at=closes + grace,
            )
            if created:
                params = _params(visit, last)
                params["at"] = closes
                notify(
                    recipients=[visit.host, *users_with_roles(Role.SECURITY)],
                    kind=Kind.OVERSTAY,
                    key=f"incident:{incident.pk}",
                    params=params,
                    visit=visit,
                    incident_id=incident.pk,
                )
                flagged += 1
    if flagged:
        logger.info("passages: %d overstay(s) flagged", flagged)
    return flagged


def settle_due_exits(*, now: datetime | None = None) -> int:
    """Single-pass visits whose re-entry grace after the first exit is over: checked out at
    that exit (the beat sweep). Returns how many were checked out."""
    moment = now or current_time()
    candidates = (
        Visit.objects.filter(
            status=VisitStatus.CHECKED_IN,
            single_pass=True,
            passages__granted=True,
            passages__direction=Direction.OUT,
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    closed = 0
    for visit_id in list(candidates):
        with transaction.atomic():
            visit = settle_visit(Visit(pk=visit_id), now=moment)
            if visit.status == VisitStatus.CHECKED_OUT:
                closed += 1
    if closed:
        logger.info("passages: %d single-pass visit(s) checked out after the grace", closed)
    return closed


# --- Staff on incidents --------------------------------------------------------------------


class IncidentTransitionError(ValueError):
    """The incident's state does not allow this; nothing was changed."""


def acknowledge(*, incident: Incident, actor: Actor) -> Incident:
    """Someone is on it: OPEN -> ACKNOWLEDGED (reception, security, administrators)."""
    return _staff_change(incident, actor, to=IncidentState.ACKNOWLEDGED)


def resolve(*, incident: Incident, actor: Actor, note: str = "") -> Incident:
    """Dealt with: OPEN/ACKNOWLEDGED -> RESOLVED, with an optional note."""
    return _staff_change(incident, actor, to=IncidentState.RESOLVED, note=note)


def _staff_change(
    incident: Incident, actor: Actor, *, to: IncidentState, note: str = ""
) -> Incident:
    if actor is None or not selectors.may_see_incidents(actor):
        raise PermissionDenied(_("Only reception, security and administrators handle incidents."))
    note = " ".join(note.split())
    if len(note) > 300:
        raise IncidentTransitionError(_("The note can be at most 300 characters long."))
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        allowed = {
            IncidentState.ACKNOWLEDGED: {IncidentState.OPEN},
            IncidentState.RESOLVED: {IncidentState.OPEN, IncidentState.ACKNOWLEDGED},
        }[to]
        if locked.state not in allowed:
            raise IncidentTransitionError(
                _("This incident is already %(state)s.")
                % {"state": IncidentState(locked.state).label}
            )
        old = locked.state
        moment = current_time()
        user = actor if actor.is_authenticated else None
        locked.state = to
        fields = ["state"]
        if to == IncidentState.ACKNOWLEDGED:
            locked.acknowledged_at, locked.acknowledged_by = moment, user  # type: ignore[assignment]
            fields += ["acknowledged_at", "acknowledged_by"]
        else:
            locked.resolved_at, locked.resolved_by = moment, user  # type: ignore[assignment]
            fields += ["resolved_at", "resolved_by"]
            if note:
                locked.note = note
                fields.append("note")
        locked.save(update_fields=fields)
        record(
            actor=actor,
            action=f"incident.{to}",
            target=locked,
            changes={"state": [old, to], **({"note": note} if note else {})},
        )
    return locked


# --- Pictures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PictureOutcome:
    state: str
    error: str = ""


def store_picture(passage_id: int, data: bytes) -> PictureOutcome:
    """Keep the camera picture of a passage (a JPEG: other formats are converted; not an
    image: refused, FAILED). Idempotent: a stored or deleted picture is left alone."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.format == "JPEG":
                jpeg = data
            else:
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, format="JPEG", quality=85)
                jpeg = buffer.getvalue()
    except (UnidentifiedImageError, OSError, ValueError):
        return _picture_failed(passage_id, "HikCentral's picture is not an image")
    written: list[str] = []
    try:
        with transaction.atomic():
            passage = Passage.objects.select_for_update().get(pk=passage_id)
            if passage.picture_state in (PictureState.STORED, PictureState.DELETED):
                return PictureOutcome(passage.picture_state)
            passage.picture.save("picture.jpg", ContentFile(jpeg), save=False)
            written.append(passage.picture.name or "")
            passage.picture_state = PictureState.STORED
            passage.picture_error = ""
            passage.picture_due_at = None
            passage.save(
                update_fields=["picture", "picture_state", "picture_error", "picture_due_at"]
            )
    except BaseException:
        for name in written:
            passage_picture_storage().delete(name)
        raise
    return PictureOutcome(PictureState.STORED)


def _picture_failed(passage_id: int, error: str) -> PictureOutcome:
    pictures.give_up(passage_id, error)
    return PictureOutcome(PictureState.FAILED, error)


def delete_visitor_pictures(visitor_id: int, *, actor: Actor = None) -> int:
    """Delete the camera pictures of a visitor's passages with the visitor's other biometric
    data (``visitors.services`` calls it where a face is deleted). The passages stay, marked
    DELETED; the files go once the caller's transaction commits. Returns how many."""
    passages = list(
        Passage.objects.select_for_update().filter(visitor_id=visitor_id).exclude(picture="")
    )
    names = [p.picture.name or "" for p in passages if p.picture]
    Passage.objects.filter(pk__in=[p.pk for p in passages]).update(
        picture="", picture_state=PictureState.DELETED
    )
    # A fetch still to come (or under way: its drain finds the state changed and keeps
    # nothing, services.store_picture) is called off.
    Passage.objects.filter(visitor_id=visitor_id, picture_state=PictureState.PENDING).update(
        picture_state=PictureState.DELETED, picture_due_at=None
    )
    if names:
        storage = passage_picture_storage()

        def remove(files: Iterable[str] = tuple(names)) -> None:
            for name in files:
                storage.delete(name)

        transaction.on_commit(remove)
        logger.info("visitor %s: %d passage picture(s) deleted", visitor_id, len(names))
    return len(names)


RETENTION_BATCH = 500


def delete_expired_pictures(*, now: datetime | None = None) -> int:
    """Delete the camera pictures of passages (and so of the incidents raised from them)
    that happened more than ``PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS`` ago: the file, then
    the reference (``picture`` emptied, ``picture_state`` DELETED; a fetch still pending or
    failed is marked DELETED too, so none is made later). The passages stay. Idempotent: a
    second run finds nothing; a file already gone counts as deleted; a file that cannot be
    deleted keeps its reference (logged), so the next run tries again and no file is left
    without one. Audited (``passage.pictures_expired``, the count) when any went. Returns
    how many files were deleted."""
    moment = now or current_time()
    before = moment - timedelta(days=float(settings.PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS))
    expired = Passage.objects.filter(happened_at__lt=before)
    storage = passage_picture_storage()
    deleted = 0
    undeletable: set[int] = set()
    while True:
        batch = list(
            expired.exclude(picture="")
            .exclude(pk__in=undeletable)
            .values_list("pk", "picture")[:RETENTION_BATCH]
        )
        if not batch:
            break
        gone: list[int] = []
        for pk, name in batch:
            try:
                storage.delete(name)
            except OSError as exc:
                undeletable.add(pk)
                logger.warning(
                    "passage %s: its expired picture could not be deleted (%s); next run",
                    pk,
                    type(exc).__name__,
                )
                continue
            gone.append(pk)
        Passage.objects.filter(pk__in=gone).update(picture="", picture_state=PictureState.DELETED)
        deleted += len(gone)
    expired.filter(picture_state__in=(PictureState.PENDING, PictureState.FAILED)).update(
        picture_state=PictureState.DELETED, picture_due_at=None
    )
    if deleted:
        record(
            actor=None,
            action="passage.pictures_expired",
            target=Passage,
            changes={"count": deleted, "happened_before": before.isoformat()},
        )
        logger.info("%d passage picture(s) past their retention deleted", deleted)
    return deleted


def disclose_picture(*, passage: Passage, actor: Actor, listed: bool = False) -> bytes | None:
    """The stored picture for ``actor`` (the caller checked they may see it), audited as
    ``passage.picture_viewed``; None if there is none. ``listed``: a thumbnail in a list,
    audited once a day per viewer and picture (``audit.services.record_view``)."""
    if not passage.has_picture:
        return None
    try:
        with passage.picture.open("rb") as stored:
            data = stored.read()
    except FileNotFoundError:
        return None
    record_view(
        actor=actor,
        action="passage.picture_viewed",
        target=passage,
        changes={"visit": passage.visit_id, "visitor": passage.visitor_id},
        listed=listed,
    )
    return data


# --- Helpers -------------------------------------------------------------------------------


def _params(visit: Visit | None, passage: Passage) -> dict[str, Any]:
    params: dict[str, Any] = {
        "door_name": passage.door_name or passage.door_index_code,
        "at": passage.happened_at,
    }
    if visit is not None:
        params["visitor_name"] = visit.visitor.full_name
        params["visit_id"] = visit.pk
    return params
