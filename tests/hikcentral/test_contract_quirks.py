"""Contract: HCP's envelope and paging quirks, reproduced by the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import HCPAlreadyExists, HCPResponseTooLong, HikCentralClient

from .conftest import (
    ALL_DOORS_LEVEL,
    CountingLimiter,
    make_config,
    make_jpeg,
    seed_site,
    visitor,
)

pytestmark = pytest.mark.simulator

PERSON_LIST = "/api/resource/v1/person/personList"


def test_numeric_code_on_any_call(site, client):
    site.control.set_quirks(numeric_code_paths=["/api/*"])
    assert client.version().soft_version
    person_id = client.add_person(visitor("Q0001"))
    assert client.get_person_by_code("Q0001").person_id == person_id
    with pytest.raises(HCPAlreadyExists) as info:
        client.add_person(visitor("Q0001"))
    assert info.value.code == "131"


def test_total_num_instead_of_total(site):
    site.control.set_quirks(total_num_paths=["/api/*"])
    limiter = CountingLimiter()
    with HikCentralClient(make_config(site, page_size=3), rate_limiter=limiter) as client:
        ids = {client.add_person(visitor(f"Q{n:04d}")) for n in range(7)}
        limiter.priorities.clear()
        assert {p.person_id for p in client.list_persons()} == ids
        # With a total the last full page is recognised as the last one: 3 calls, not 4.
        assert limiter.calls == 3
        assert len(client.list_doors()) == 12


def test_exact_multiple_of_page_size(site):
    limiter = CountingLimiter()
    with HikCentralClient(make_config(site, page_size=4), rate_limiter=limiter) as client:
        for n in range(8):
            client.add_person(visitor(f"X{n:04d}"))
        limiter.priorities.clear()
        assert len(client.list_persons()) == 8
        assert limiter.calls == 2


def test_empty_pages_without_list(client):
    # No persons, no members, no events: pages without `list`, pageNo/pageSize 0.
    assert client.list_persons() == []
    assert client.list_access_level_members(ALL_DOORS_LEVEL) == []
    assert client.application_failures() == []
    now = datetime.now(UTC)
    assert list(client.search_door_events(now - timedelta(days=1), now)) == []


def test_plain_string_data(client, site):
    # add answers the new id as a plain string; update answers "null"; delete answers "".
    person_id = client.add_person(visitor("S0001"))
    assert site.control.state()["persons"][0]["personId"] == person_id
    client.update_person(person_id, visitor("S0001", remark="changed"))
    assert client.get_person_by_id(person_id).remark == "changed"
    client.delete_person(person_id=person_id)
    assert site.control.state()["persons"] == []


@pytest.mark.parametrize(
    ("max_page_size", "sizes"),
    [(250, [500, 250]), (125, [500, 250, 125])],
)
def test_response_too_long_halves_the_page(site, max_page_size, sizes):
    limiter = CountingLimiter()
    with HikCentralClient(make_config(site), rate_limiter=limiter) as client:
        ids = {client.add_person(visitor(f"P{n:04d}")) for n in range(3)}
        site.control.add_fault("page_limit", path=PERSON_LIST, maxPageSize=max_page_size)
        limiter.priorities.clear()
        assert {p.person_id for p in client.list_persons()} == ids
        assert limiter.calls == len(sizes)


def test_response_too_long_gives_up_after_two_halvings(client, site):
    site.control.add_fault("page_limit", path=PERSON_LIST, maxPageSize=100)
    with pytest.raises(HCPResponseTooLong) as info:
        client.list_persons()
    assert info.value.code == "0x00072004"
    assert not info.value.retryable


def test_halving_keeps_the_position_mid_listing(site):
    """The limit appears after the first page: the offset is kept, nothing is lost or doubled."""
    limiter = CountingLimiter()
    with HikCentralClient(make_config(site, page_size=4), rate_limiter=limiter) as client:
        ids = {client.add_person(visitor(f"H{n:04d}")) for n in range(10)}
        iterator = client.iter_persons()
        first = [next(iterator) for _ in range(4)]
        site.control.add_fault("page_limit", path=PERSON_LIST, maxPageSize=2)
        rest = list(iterator)
    persons = first + rest
    assert len(persons) == 10
    assert {p.person_id for p in persons} == ids


@pytest.fixture(scope="module")
def base64_pictures() -> Iterator[SimulatorHandle]:
    with running_simulator(extra_args=["--picture-format", "base64"]) as sim:
        yield sim


def test_pictures_as_base64_data_uri(base64_pictures):
    seed_site(base64_pictures)
    face = make_jpeg((1, 2, 3))
    with HikCentralClient(make_config(base64_pictures)) as client:
        person_id = client.add_person(visitor("B0001"), face_jpeg=face)
        pic_uri = client.get_person_by_id(person_id).pic_uri
        assert pic_uri is not None
        assert client.download_picture(pic_uri, person_id=person_id) == face
        passage = base64_pictures.control.passage("1", unknown_face=True)
        assert client.event_picture(passage.pic_uri).startswith(b"\xff\xd8\xff")


ANSWER_SWITCHES = (
    "emptyPageWithoutList",
    "numericPersonIds",
    "emptyPicUriWithoutFace",
    "omitEmptyCards",
    "deleteAnswersRemainLockNumber",
    "emptyStringForNull",
    "ignoreEventTypeFilter",
)


def test_each_run_has_its_mode_and_the_client_reads_the_same_person(site, quirks_on):
    """quirks-off answers every switch in its textbook shape, quirks-on every variation: the
    client must read a person without a face or cards, and its delete and update, alike."""
    quirks = site.control.quirks()
    assert {name: quirks[name] for name in ANSWER_SWITCHES} == dict.fromkeys(
        ANSWER_SWITCHES, quirks_on
    )
    assert quirks["applicationResultShape"] == ("empty" if quirks_on else "counts")
    assert quirks["denialEventType"] == (197151 if quirks_on else None)
    assert quirks["pictureFormat"] == ("base64" if quirks_on else "binary")
    assert quirks["maxPersonsPerLevelCall"] == 20  # what the server demands: kept by presets

    answers: list[tuple[str, object]] = []
    with HikCentralClient(
        make_config(site), response_observer=lambda path, data: answers.append((path, data))
    ) as client:
        person_id = client.add_person(visitor("N0001"))
        assert person_id.isdigit() if quirks_on else len(person_id) == 32
        by_id = client.get_person_by_id(person_id)
        (listed,) = client.list_persons()
        for person in (by_id, listed):
            assert (person.has_face, person.pic_uri, person.card_numbers) == (False, None, ())
        client.update_person(person_id, visitor("N0001", remark="updated"))
        assert client.get_person_by_code("N0001").remark == "updated"
        client.delete_person(person_id=person_id)
        assert client.list_persons() == []
    raw = dict(answers)  # the last answer of each path
    info = raw["/api/resource/v1/person/personId/personInfo"]
    assert isinstance(info, dict)
    if quirks_on:
        assert (info["personPhoto"], "cards" in info) == ({"picUri": ""}, False)
        assert raw["/api/resource/v1/person/single/update"] == ""
        assert raw["/api/resource/v1/person/single/delete"] == {"remainLockNumber": 5}
        assert "list" not in raw[PERSON_LIST]  # the empty page at the end
    else:
        assert ("personPhoto" in info, info["cards"]) == (False, [])
        assert raw["/api/resource/v1/person/single/update"] == "null"
        assert raw["/api/resource/v1/person/single/delete"] == ""
        assert raw[PERSON_LIST]["list"] == []
