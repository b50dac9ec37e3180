"""What a HikCentral event means for a visit: the passage handler.

``handle_event`` is called by the events intake (``propusk.events.tasks.process_event``) for
each stored ``HcpEvent``, pushed or polled. In one transaction it records a ``Passage`` (one
per event: the event is its key) and does what the passage means:

- a granted passage of one of our visitors is matched to a visit (by person and time,
  ``selectors.visit_for_moment``) and the visit is settled from all its passages
  (``services.settle_visit``): checked in at the first entry, checked out at the exit that
  ends a single-pass visit (after the policy's re-entry grace), exits without an entry flagged;
- a refusal naming one of our visitors: an incident, the host and security told, with why
  (too early, too late, after the visit ended, no access to the door);
- a refusal naming nobody (a face the door did not recognise): an incident for reception and
  security with the camera picture and the visitors expected around then;
- repeated refusals at one door escalate to security.

The camera picture is fetched afterwards: the passage is recorded with the picture due, and a
drain of due pictures (``tasks.fetch_pending_pictures``, ``pictures``) is woken after commit,
one for a burst; so a slow or unreachable HCP never holds up a check-in. Events of people who
are not our visitors (staff, students of the site) and event types that are not door passages
are kept in the inbox for audit and answered IGNORED.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from hikcentral.push import ACCESS_EVENT_TYPES, GRANTED_BY_FACE
from propusk.access.windows import visit_window
from propusk.events.models import EventState, HcpEvent
from propusk.passages import pictures, selectors, services
from propusk.passages.models import DenialReason, Passage, PictureState
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit, VisitStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LookedUp:
    """What ``handle_event`` first asks of the database, asked once for a batch of events
    (``look_up``): which of them have a passage already, and the visitor each names. A drain
    of the inbox is mostly staff and students, whose events need nothing else."""

    with_passage: frozenset[int]
    visitors: dict[int, Visitor | None]


def look_up(events: Sequence[HcpEvent]) -> LookedUp:
    pks = [event.pk for event in events]
    with_passage = frozenset(
        Passage.objects.filter(event_id__in=pks).values_list("event_id", flat=True)
    )
    return LookedUp(with_passage=with_passage, visitors=selectors.visitors_of_events(events))


def handle_event(event: HcpEvent, looked_up: LookedUp | None = None) -> EventState:
    """Act on one stored event. Idempotent: for an event already handled it changes nothing
    and answers DONE again. Raises on what is worth retrying (the database busy, say).
    ``looked_up``: ``look_up`` of a batch holding this event, instead of asking again."""
    if looked_up is not None and event.pk in looked_up.visitors:
        has_passage = event.pk in looked_up.with_passage
        visitor = looked_up.visitors[event.pk]
    else:
        has_passage = Passage.objects.filter(event_id=event.pk).exists()
        visitor = None
    if has_passage:
        return EventState.DONE
    if event.event_type not in ACCESS_EVENT_TYPES:
        return EventState.IGNORED
    granted = event.event_type == GRANTED_BY_FACE
    names_someone = bool(event.person_code or event.person_id)
    if looked_up is None or event.pk not in looked_up.visitors:
        visitor = selectors.visitor_of_event(event)
    if visitor is None and (names_someone or granted):
        # Somebody HCP knows who is not our visitor (staff, a student of the site).
        return EventState.IGNORED
    try:
        with transaction.atomic():
            if visitor is None:
                _unrecognised(event)
            elif granted:
                _granted(event, visitor)
            else:
                _refused(event, visitor)
    except IntegrityError:
        # Another worker recorded this event's passage at the same moment.
        if Passage.objects.filter(event_id=event.pk).exists():
            return EventState.DONE
        raise
    return EventState.DONE


def _new_passage(event: HcpEvent, **fields: object) -> Passage:
    passage = Passage.objects.create(
        event=event,
        happened_at=event.happened_at,
        door_index_code=event.door_index_code,
        door_name=event.door_name,
        direction=event.direction,
        picture_state=PictureState.PENDING if event.pic_uri else PictureState.NONE,
        picture_due_at=timezone.now() if event.pic_uri else None,
        **fields,
    )
    if event.pic_uri:
        # One wake-up waits in the broker at a time (pictures.wake): a burst of passages
        # queues one drain. A lost one: the sweep wakes a drain.
        transaction.on_commit(pictures.wake)
    return passage


def _granted(event: HcpEvent, visitor: Visitor) -> None:
    visit = selectors.visit_for_moment(visitor, event.happened_at)
    if visit is None:
        visit = selectors.nearest_visit(visitor, event.happened_at)
    if visit is not None:
        # Serialise the visit's passages: two workers settling one visit see each other's.
        Visit.objects.select_for_update().filter(pk=visit.pk).first()
    passage = _new_passage(event, visit=visit, visitor=visitor, granted=True)
    if visit is None:
        logger.info("passage %s: a granted passage of a visitor with no visit", passage.pk)
        return
    was_inside = visit.status == VisitStatus.CHECKED_IN
    settled = services.settle_visit(visit)
    if (
        was_inside
        and settled.status == VisitStatus.CHECKED_IN
        and not settled.single_pass
        and not passage.is_entry
    ):
        services.notify_left(settled, passage)


def _refused(event: HcpEvent, visitor: Visitor) -> None:
    at = event.happened_at
    visit = selectors.visit_for_moment(visitor, at)
    if visit is None:
        visit = selectors.nearest_visit(visitor, at)
    reason = denial_reason(visit, event)
    passage = _new_passage(event, visit=visit, visitor=visitor, granted=False, denial_reason=reason)
    services.denial_incident(passage, visit)
    services.escalate_repeated_failures(passage)


def _unrecognised(event: HcpEvent) -> None:
    passage = _new_passage(event, granted=False, denial_reason=DenialReason.NOT_RECOGNISED)
    services.unrecognised_face_incident(passage)
    services.escalate_repeated_failures(passage)


def denial_reason(visit: Visit | None, event: HcpEvent) -> DenialReason:
    """Why the door refused our visitor, from the visit's times and status (the event code
    alone is not to be trusted: some servers send one code for every refusal).

    No visit: no access. Cancelled, or checked out before the attempt: the visit has ended.
    Otherwise before the access window opens: too early; after it closes: too late; within
    it: no access to this door (its access level, or not applied to the device yet)."""
    if visit is None:
        return DenialReason.NO_ACCESS
    at = event.happened_at
    if visit.status == VisitStatus.CANCELLED:
        return DenialReason.VISIT_ENDED
    if (
        visit.status == VisitStatus.CHECKED_OUT
        and visit.checked_out_at is not None
        and at >= visit.checked_out_at
    ):
        return DenialReason.VISIT_ENDED
    opens, closes = visit_window(visit)
    if at < opens:
        return DenialReason.TOO_EARLY
    if at > closes:
        return DenialReason.TOO_LATE
    return DenialReason.NO_ACCESS
