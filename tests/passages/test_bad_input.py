"""Events that concern no visitor of ours and unknown event types (a HikCentral that stays down
while a picture is fetched: test_picture_drain.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from hikcentral.push import GRANTED_BY_FACE, INVALID_TIME_PERIOD
from propusk.events.models import Direction, EventSource, EventState, HcpEvent
from propusk.passages.handler import handle_event
from propusk.passages.models import Incident, Passage
from propusk.visits.models import Visit
from tests.access.conftest import ENTRANCE

pytestmark = pytest.mark.django_db


def stored(event_id: str, event_type: int, person_code: str = "") -> HcpEvent:
    return HcpEvent.objects.create(
        event_id=event_id,
        event_type=event_type,
        happened_at=timezone.now(),
        door_index_code=ENTRANCE,
        door_name="Главный вход",
        person_code=person_code,
        direction=Direction.IN,
        source=EventSource.PUSH,
    )


def test_a_person_who_is_not_our_visitor_is_kept_for_audit_and_ignored(
    make_visit: Callable[..., Visit],
) -> None:
    make_visit()
    staff = stored("staff-in", GRANTED_BY_FACE, person_code="E0042")
    refused_staff = stored("staff-refused", INVALID_TIME_PERIOD, person_code="E0042")
    assert handle_event(staff) == EventState.IGNORED
    assert handle_event(refused_staff) == EventState.IGNORED
    assert not Passage.objects.exists()
    assert not Incident.objects.exists()
    assert HcpEvent.objects.count() == 2  # still in the inbox


def test_an_event_type_that_is_no_passage_is_ignored(make_visit: Callable[..., Visit]) -> None:
    visit = make_visit()
    door_left_open = stored("door-open", 198657, person_code=visit.visitor.person_code)
    assert handle_event(door_left_open) == EventState.IGNORED
    assert not Passage.objects.exists()
    visit.refresh_from_db()
    assert visit.status == "awaiting"


def test_a_batch_look_up_finds_the_same_visitors_as_one_at_a_time(
    make_visit: Callable[..., Visit],
) -> None:
    from propusk.access.models import HcpPerson
    from propusk.passages.handler import look_up
    from propusk.passages.selectors import visitor_of_event

    by_code, by_person_id = make_visit(), make_visit()
    HcpPerson.objects.update_or_create(
        person_code=by_person_id.visitor.person_code, defaults={"person_id": "9041"}
    )
    events = [
        stored("by-code", GRANTED_BY_FACE, person_code=by_code.visitor.person_code),
        HcpEvent.objects.create(
            event_id="by-person-id",
            event_type=GRANTED_BY_FACE,
            happened_at=timezone.now(),
            door_index_code=ENTRANCE,
            person_id="9041",
            direction=Direction.IN,
            source=EventSource.PUSH,
        ),
        stored("staff", GRANTED_BY_FACE, person_code="E0042"),
        stored("nobody", 197160),
    ]

    found = look_up(events)

    assert found.visitors == {event.pk: visitor_of_event(event) for event in events}
    assert found.visitors[events[0].pk] == by_code.visitor
    assert found.visitors[events[1].pk] == by_person_id.visitor
    assert found.with_passage == frozenset()
    # The handler given the look-up does what it does without one.
    assert handle_event(events[0], found) == EventState.DONE
    assert handle_event(events[2], found) == EventState.IGNORED
    by_code.refresh_from_db()
    assert by_code.status == "checked_in"
    again = look_up(events)
    assert again.with_passage == frozenset({events[0].pk})
    assert handle_event(events[0], again) == EventState.DONE  # idempotent
    assert Passage.objects.filter(event=events[0]).count() == 1
