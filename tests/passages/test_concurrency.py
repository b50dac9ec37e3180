"""Two workers handling a visit's events at the same moment (threads, each with its own
database connection): the result is the one of the events handled one after the other."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from hikcentral.push import FACE_RECOGNITION_FAILED, GRANTED_BY_FACE
from propusk.events.models import Direction, EventSource, EventState, HcpEvent
from propusk.notifications.models import Notification
from propusk.passages.handler import handle_event
from propusk.passages.models import Incident, IncidentKind, Passage
from propusk.visits.models import Visit, VisitStatus
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def event(
    event_id: str, *, person_code: str, event_type: int, direction: int, at: object
) -> HcpEvent:
    return HcpEvent.objects.create(
        event_id=event_id,
        event_type=event_type,
        happened_at=at,
        door_index_code="1",
        door_name="Главный вход",
        person_code=person_code,
        direction=direction,
        source=EventSource.PUSH,
    )


def test_an_entry_and_an_exit_handled_at_once_check_the_visit_in_and_out(
    make_visit: Callable[..., Visit],
) -> None:
    visit = make_visit(single_pass=True)
    code = visit.visitor.person_code
    now = timezone.now().replace(microsecond=0) - timedelta(minutes=2)
    entry = event(
        "in", person_code=code, event_type=GRANTED_BY_FACE, direction=Direction.IN, at=now
    )
    leaving = event(
        "out",
        person_code=code,
        event_type=GRANTED_BY_FACE,
        direction=Direction.OUT,
        at=now + timedelta(seconds=30),
    )

    outcomes = run_together(lambda: handle_event(leaving), lambda: handle_event(entry))

    assert outcomes == [EventState.DONE, EventState.DONE]
    visit.refresh_from_db()
    assert (visit.status, visit.checked_in_at, visit.checked_out_at) == (
        VisitStatus.CHECKED_OUT,
        entry.happened_at,
        leaving.happened_at,
    )


def test_the_same_event_handled_twice_at_once_is_one_passage(
    make_visit: Callable[..., Visit],
) -> None:
    visit = make_visit()
    entry = event(
        "in",
        person_code=visit.visitor.person_code,
        event_type=GRANTED_BY_FACE,
        direction=Direction.IN,
        at=timezone.now(),
    )
    outcomes = run_together(lambda: handle_event(entry), lambda: handle_event(entry))
    assert outcomes == [EventState.DONE, EventState.DONE]
    assert Passage.objects.count() == 1
    assert Notification.objects.count() == 1  # the host, once


def test_a_burst_of_failures_at_once_is_escalated_once(security: object) -> None:
    now = timezone.now()
    failures = [
        event(
            f"f{n}",
            person_code="",
            event_type=FACE_RECOGNITION_FAILED,
            direction=Direction.IN,
            at=now - timedelta(seconds=n),
        )
        for n in range(4)
    ]
    outcomes = run_together(*[lambda e=e: handle_event(e) for e in failures])
    assert outcomes == [EventState.DONE] * 4
    assert Incident.objects.filter(kind=IncidentKind.REPEATED_FAILURES).count() == 1
