"""Contract: door event search over long ranges and many doors, events made by passages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hcp_simulator.testing import PassageResult, SimulatorHandle, running_simulator
from hikcentral import HCPParameterError, HikCentralClient

from .conftest import (
    ALL_DOORS_LEVEL,
    DOOR_CODES,
    CountingLimiter,
    make_config,
    make_jpeg,
    seed_site,
    visitor,
)

pytestmark = pytest.mark.simulator

GRANTED_BY_FACE = 196893


def make_history(
    site: SimulatorHandle, client: HikCentralClient, start: datetime
) -> list[PassageResult]:
    """Passages at all 12 doors spread over 40 days, one of them exactly on the boundary
    between the client's first and second 30-day window."""
    begin = start - timedelta(days=1)
    person = visitor("EV0001", begin_time=begin, end_time=start + timedelta(days=60))
    person_id = client.add_person(person, face_jpeg=make_jpeg())
    client.add_persons_to_access_level(ALL_DOORS_LEVEL, [person_id])
    client.reapply(person_ids=[person_id], door_index_codes=DOOR_CODES)
    passages = []
    for index in range(24):
        at = start + timedelta(hours=index * 40)  # 24 passages over 40 days
        door = DOOR_CODES[index % 12]
        if index % 3 == 0:
            passages.append(site.control.passage(door, unknown_face=True, at=at))
        else:
            passages.append(site.control.passage(door, person_code="EV0001", at=at))
    boundary = start + timedelta(days=30)
    passages.append(site.control.passage("5", unknown_face=True, at=boundary))
    return passages


def test_forty_days_and_twelve_doors(site):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    limiter = CountingLimiter()
    with HikCentralClient(make_config(site, page_size=4), rate_limiter=limiter) as client:
        passages = make_history(site, client, start)
        limiter.priorities.clear()
        events = list(
            client.search_door_events(
                start, start + timedelta(days=40, seconds=1), door_index_codes=DOOR_CODES
            )
        )
        # 2 windows x 2 door groups, several pages each.
        assert limiter.calls > 4
    ids = [event.event_id for event in events]
    assert len(ids) == len(set(ids)), "an event was returned twice"
    assert set(ids) == {p.event_id for p in passages}
    times = [event.event_time for event in events]
    assert times == sorted(times)
    assert {event.door_index_code for event in events} == set(DOOR_CODES)


def test_every_door_by_default(site):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    limiter = CountingLimiter()
    with HikCentralClient(make_config(site), rate_limiter=limiter) as client:
        passages = make_history(site, client, start)
        limiter.priorities.clear()
        events = list(client.search_door_events(start, start + timedelta(days=41)))
        # list_doors, then 2 windows x 2 door groups of one page each.
        assert limiter.calls == 5
    assert {e.event_id for e in events} == {p.event_id for p in passages}


def test_filters(site, client):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    passages = make_history(site, client, start)
    end = start + timedelta(days=41)
    granted = [p for p in passages if p.event_type == GRANTED_BY_FACE]
    assert granted, "some passages should be granted"

    by_type = list(client.search_door_events(start, end, event_types=[GRANTED_BY_FACE]))
    assert {e.event_id for e in by_type} == {p.event_id for p in granted}

    other_types = {p.event_type for p in passages} - {GRANTED_BY_FACE}
    both = list(client.search_door_events(start, end, event_types=[GRANTED_BY_FACE, *other_types]))
    assert len(both) == len(passages)

    by_person = list(client.search_door_events(start, end, person_code="EV0001"))
    assert {e.event_id for e in by_person} == {p.event_id for p in passages if p.person_id}
    assert all(e.person_code == "EV0001" for e in by_person)

    door_one = list(client.search_door_events(start, end, door_index_codes=["1"]))
    assert {e.door_index_code for e in door_one} == {"1"}


def test_types_are_filtered_even_when_the_server_ignores_the_filter(site, client):
    site.control.set_quirks(ignore_event_type_filter=True)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    passages = make_history(site, client, start)
    granted = {p.event_id for p in passages if p.event_type == GRANTED_BY_FACE}
    assert granted
    assert len(granted) < len(passages)
    found = list(
        client.search_door_events(start, start + timedelta(days=41), event_types=[GRANTED_BY_FACE])
    )
    assert {e.event_type for e in found} == {GRANTED_BY_FACE}
    assert {e.event_id for e in found} == granted


def test_one_person_filter_at_a_time(client, limiter):
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="not both"):
        client.search_door_events(now - timedelta(hours=1), now, person_code="E1", person_id="1")
    assert limiter.calls == 0


def test_event_pictures_of_old_events(site, client):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    passages = make_history(site, client, start)
    events = list(client.search_door_events(start, start + timedelta(days=41)))
    assert all(e.pic_uri for e in events)
    for event in events[:3]:
        assert event.pic_uri is not None
        assert client.event_picture(event.pic_uri).startswith(b"\xff\xd8\xff")
    assert len(events) == len(passages)


def test_lazy_iteration(site, client, limiter):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    make_history(site, client, start)
    limiter.priorities.clear()
    iterator = client.search_door_events(
        start, start + timedelta(days=41), door_index_codes=DOOR_CODES
    )
    assert limiter.calls == 0
    next(iterator)
    assert limiter.calls == 2  # the first window's two door groups


def test_lazy_iteration_over_every_door(site, client, limiter):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=45)
    make_history(site, client, start)
    limiter.priorities.clear()
    iterator = client.search_door_events(start, start + timedelta(days=41))
    assert limiter.calls == 0  # not even the door list
    next(iterator)
    assert limiter.calls == 3  # the door list, then the first window's two door groups


@pytest.fixture(scope="module")
def strict_events() -> Iterator[SimulatorHandle]:
    with running_simulator(strict_door_events=True) as sim:
        yield sim


def test_older_servers_need_an_event_type(strict_events):
    seed_site(strict_events)
    passage = strict_events.control.passage("1", unknown_face=True)
    now = datetime.now(UTC)
    with HikCentralClient(make_config(strict_events)) as client:
        with pytest.raises(HCPParameterError) as info:
            list(client.search_door_events(now - timedelta(hours=1), now + timedelta(minutes=1)))
        assert info.value.field == "eventType"
        events = list(
            client.search_door_events(
                now - timedelta(hours=1),
                now + timedelta(minutes=1),
                event_types=[passage.event_type],
            )
        )
    assert [e.event_id for e in events] == [passage.event_id]
