"""The client keeps only the asked event types, so a server ignoring the filter cannot slip
other events in (the contract tests show it against the simulator; this is the rule itself)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hikcentral import DoorEvent
from hikcentral.client import filter_event_types

TYPES = [196893, 197151, 197160, 197384, 197635, 198914]
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def event(number: int, event_type: int) -> DoorEvent:
    return DoorEvent(
        event_id=f"e{number}",
        event_type=event_type,
        event_time=START + timedelta(seconds=number),
        door_index_code="1",
        person_id=None,
        person_code=None,
        direction=1,
        pic_uri=None,
    )


@given(st.lists(st.sampled_from(TYPES)), st.sets(st.sampled_from(TYPES)))
def test_keeps_exactly_the_asked_types_in_order(types, wanted):
    events = [event(number, event_type) for number, event_type in enumerate(types)]
    kept = list(filter_event_types(iter(events), wanted))
    assert kept == [e for e in events if e.event_type in wanted]


@given(st.lists(st.sampled_from(TYPES)))
def test_none_keeps_everything(types):
    events = [event(number, event_type) for number, event_type in enumerate(types)]
    assert list(filter_event_types(events, None)) == events


def test_lazy():
    def endless():
        number = 0
        while True:
            number += 1
            yield event(number, TYPES[number % 2])

    kept = filter_event_types(endless(), {196893})
    assert [next(kept).event_id for _ in range(3)] == ["e2", "e4", "e6"]
