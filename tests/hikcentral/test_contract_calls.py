"""Contract: every call the project uses, against the simulator over real HTTP."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from hikcentral import (
    AccessLevelType,
    ApplicationOutcome,
    Gender,
    HCPNotFound,
    HCPParameterError,
    HikCentralClient,
)

from .conftest import (
    ALL_DOORS_LEVEL,
    DOOR_CODES,
    MAIN_LEVEL,
    SITE_TZ,
    VISITOR_LEVEL,
    VISITOR_ORG,
    CountingLimiter,
    make_config,
    make_jpeg,
    visitor,
)

pytestmark = pytest.mark.simulator


def test_version(client):
    version = client.version()
    assert version.product_name == "HikCentral Professional"
    assert version.soft_version == "V2.6.0"


def test_orgs_all_pages(site):
    for number in range(3, 13):
        site.control.add_org(str(number), f"Department {number}")
    limiter = CountingLimiter()
    with HikCentralClient(make_config(site, page_size=5), rate_limiter=limiter) as client:
        orgs = client.list_orgs()
        assert limiter.calls == 3  # 12 orgs, 5 per page
        assert sorted(int(org.org_index_code) for org in orgs) == list(range(1, 13))
        (root,) = [org for org in orgs if org.is_root]
        assert root.org_index_code == "1"
        found = client.list_orgs(org_name="Visitors")
    # A traversing search: the match and its ancestors.
    assert {org.org_index_code for org in found} == {"1", VISITOR_ORG}


def test_doors(client):
    doors = client.list_doors()
    assert [door.door_index_code for door in doors] == DOOR_CODES
    assert doors[0].door_name == "Turnstile 1"
    assert doors[0].acs_dev_index_code == "1"


def test_access_levels(client):
    levels = client.list_access_levels()
    assert {level.access_level_id: level.name for level in levels} == {
        MAIN_LEVEL: "Main entrance",
        ALL_DOORS_LEVEL: "All doors",
    }
    assert levels[0].time_schedule_id == "1"
    visitor_levels = client.list_access_levels(AccessLevelType.VISITOR)
    assert [level.access_level_id for level in visitor_levels] == [VISITOR_LEVEL]


def test_person_lifecycle(client, site):
    face = make_jpeg((10, 200, 10))
    person = visitor("V0001", gender=Gender.FEMALE, email="anna@example.org", remark="guest")
    person_id = client.add_person(person, face_jpeg=face)
    assert person_id
    assert [p["personId"] for p in site.control.state()["persons"]] == [person_id]

    by_id = client.get_person_by_id(person_id)
    by_code = client.get_person_by_code("V0001")
    assert by_id == by_code
    assert by_id.person_id == person_id
    assert by_id.person_code == "V0001"
    assert by_id.org_index_code == VISITOR_ORG
    assert by_id.gender is Gender.FEMALE
    assert (by_id.family_name, by_id.given_name) == ("Ivanova", "Anna")
    assert (by_id.phone_no, by_id.email, by_id.remark) == (
        "+77010000001",
        "anna@example.org",
        "guest",
    )
    assert by_id.begin_time == person.begin_time
    assert by_id.end_time == person.end_time
    assert by_id.begin_time is not None
    assert by_id.begin_time.utcoffset() == timedelta(hours=5)
    assert by_id.has_face
    assert by_id.pic_uri is not None
    assert client.download_picture(by_id.pic_uri, person_id=person_id) == face

    # Update sends the whole person: a field left out (phone) is cleared.
    later = person.end_time + timedelta(days=1)
    changed = visitor("V0001", phone_no=None, end_time=later, given_name="Anya")
    client.update_person(person_id, changed)
    updated = client.get_person_by_id(person_id)
    assert updated.given_name == "Anya"
    assert updated.phone_no is None
    assert updated.end_time == later

    new_face = make_jpeg((200, 10, 10))
    client.update_face(new_face, person_code="V0001")
    refreshed = client.get_person_by_code("V0001")
    assert refreshed.pic_uri is not None
    assert refreshed.pic_uri != by_id.pic_uri
    assert client.download_picture(refreshed.pic_uri, person_code="V0001") == new_face

    client.delete_person(person_code="V0001")
    with pytest.raises(HCPNotFound):
        client.get_person_by_code("V0001")
    with pytest.raises(HCPNotFound):
        client.get_person_by_id(person_id)


def test_a_person_not_found_is_logged_as_an_answer_not_a_fault(client, caplog):
    """Every new person starts with a look-up that finds nobody: no warning each time."""
    caplog.set_level(logging.INFO, logger="hikcentral")
    with pytest.raises(HCPNotFound):
        client.get_person_by_code("V9999")
    (record,) = [r for r in caplog.records if "personInfo" in r.getMessage()]
    assert record.levelno == logging.INFO


def test_delete_by_id(client):
    person_id = client.add_person(visitor("V0002"))
    client.delete_person(person_id=person_id)
    with pytest.raises(HCPNotFound):
        client.get_person_by_id(person_id)


def test_persons_all_pages(site):
    limiter = CountingLimiter()
    with HikCentralClient(make_config(site, page_size=3), rate_limiter=limiter) as client:
        ids = {client.add_person(visitor(f"V{n:04d}")) for n in range(7)}
        limiter.priorities.clear()
        persons = client.list_persons()
        assert limiter.calls == 3
    assert {p.person_id for p in persons} == ids
    assert len(persons) == 7


def test_empty_person_list(client):
    # An empty result has no `list` key and says pageNo 0, pageSize 0.
    assert client.list_persons() == []


def test_access_level_membership_in_batches(site):
    limiter = CountingLimiter()
    config = make_config(site, page_size=2, batch_size=2)
    with HikCentralClient(config, rate_limiter=limiter) as client:
        ids = [client.add_person(visitor(f"M{n:04d}")) for n in range(5)]
        limiter.priorities.clear()
        client.add_persons_to_access_level(ALL_DOORS_LEVEL, ids)
        assert limiter.calls == 3  # 5 persons, 2 per call
        members = client.list_access_level_members(ALL_DOORS_LEVEL)
        assert {m.person_id for m in members} == set(ids)
        assert {m.person_code for m in members} == {f"M{n:04d}" for n in range(5)}

        client.delete_persons_from_access_level(ALL_DOORS_LEVEL, ids[:2])
        remaining = client.list_access_level_members(ALL_DOORS_LEVEL)
        assert {m.person_id for m in remaining} == set(ids[2:])
        assert client.list_access_level_members(MAIN_LEVEL) == []

    state = site.control.state()
    (level,) = [lv for lv in state["accessLevels"] if lv["privilegeGroupId"] == ALL_DOORS_LEVEL]
    assert set(level["personIds"]) == set(ids[2:])


def test_twenty_persons_per_membership_call_by_default(site, limiter):
    """The catalogue allows up to 20 persons per addPersons/deletePersons, as the simulator."""
    with HikCentralClient(make_config(site), rate_limiter=limiter) as client:
        ids = [client.add_person(visitor(f"B{n:04d}")) for n in range(45)]
        limiter.priorities.clear()
        client.add_persons_to_access_level(ALL_DOORS_LEVEL, ids)
        assert limiter.calls == 3  # 20 + 20 + 5
        assert len(client.list_access_level_members(ALL_DOORS_LEVEL)) == 45
    with HikCentralClient(make_config(site, batch_size=21)) as client:
        with pytest.raises(HCPParameterError) as info:
            client.delete_persons_from_access_level(ALL_DOORS_LEVEL, ids)
        assert info.value.field == "list"
    assert len(site.control.state()["accessLevels"][1]["personIds"]) == 45  # nothing removed


def test_reapply_and_application_progress(client, site, quirks_on):
    person_id = client.add_person(visitor("A0001"), face_jpeg=make_jpeg())
    other_id = client.add_person(visitor("A0009"), face_jpeg=make_jpeg())
    client.add_persons_to_access_level(MAIN_LEVEL, [person_id, other_id])
    stats = client.application_stats()
    progress = client.application_progress([person_id], door_index_codes=["1", "2"])
    if quirks_on:
        # applicationResult answers "": nothing is known, and nothing is made up.
        assert (stats.known, stats.settled, stats.shape) == (False, None, "unknown")
        assert progress.outcome is ApplicationOutcome.UNKNOWN
    else:
        assert (stats.waiting, stats.settled, stats.shape) == (2, False, "counts")
        assert progress.outcome is ApplicationOutcome.PENDING

    client.reapply(person_ids=[person_id, other_id], door_index_codes=["1", "2"])
    progress = client.application_progress([person_id], door_index_codes=["1", "2"])
    assert progress.failures == ()
    if quirks_on:
        assert progress.outcome is ApplicationOutcome.UNKNOWN
    else:
        assert (progress.stats.waiting, progress.stats.applying, progress.stats.failed) == (0, 0, 0)
        assert progress.outcome is ApplicationOutcome.APPLIED
    assert client.application_failures() == []
    doors = site.control.state()["persons"][0]["doors"]
    assert {code: door["status"] for code, door in doors.items()} == {
        "1": "applied",
        "2": "applied",
    }
    # Whatever the statistics' shape, a granted passage confirms the device has the person.
    since = datetime.now(UTC) - timedelta(seconds=5)
    assert site.control.passage("1", person_code="A0001").granted
    granted = client.search_door_events(
        since, datetime.now(UTC) + timedelta(seconds=5), person_id=person_id, event_types=[196893]
    )
    assert [event.door_index_code for event in granted] == ["1"]


def test_application_progress_per_person_from_element_statuses(client, site):
    site.control.set_quirks(application_result_shape="element-status")
    waiting_id = client.add_person(visitor("A0005"), face_jpeg=make_jpeg())
    applied_id = client.add_person(visitor("A0006"), face_jpeg=make_jpeg())
    client.add_persons_to_access_level(MAIN_LEVEL, [waiting_id, applied_id])
    client.reapply(person_ids=[applied_id], door_index_codes=["1", "2"])
    stats = client.application_stats()
    assert (stats.shape, stats.waiting, stats.failed) == ("element-status", 1, 0)
    assert client.application_progress([applied_id]).outcome is ApplicationOutcome.APPLIED
    assert client.application_progress([waiting_id]).outcome is ApplicationOutcome.PENDING


def test_application_failures(client, site, quirks_on):
    site.control.add_fault("door_offline", doorIndexCode="2")
    person_id = client.add_person(visitor("A0002"), face_jpeg=make_jpeg())
    client.add_persons_to_access_level(MAIN_LEVEL, [person_id])
    client.reapply(person_ids=[person_id], door_index_codes=["1", "2"], include_failed=True)
    assert client.application_stats().failed == (None if quirks_on else 1)
    (failure,) = client.application_failures()
    assert failure.person_id == person_id
    assert failure.person_code == "A0002"
    assert failure.door_index_code == "2"
    assert failure.error_code == "194"
    assert failure.fail_time is not None
    assert failure.person_name
    assert failure.person_name not in repr(failure)
    # The failure list decides, whatever the statistics' shape.
    progress = client.application_progress([person_id])
    assert progress.outcome is ApplicationOutcome.FAILED
    assert progress.failures == (failure,)
    assert client.application_progress([person_id], door_index_codes=["1"]).outcome in (
        ApplicationOutcome.APPLIED,  # door 1 has it; the counts say nothing waits
        ApplicationOutcome.UNKNOWN,  # no statistics to tell
    )


def test_reapply_include_failed_decides_whether_earlier_failures_are_retried(client, site):
    site.control.add_fault("door_offline", doorIndexCode="2")
    person_id = client.add_person(visitor("A0004"), face_jpeg=make_jpeg())
    client.add_persons_to_access_level(MAIN_LEVEL, [person_id])
    client.reapply(person_ids=[person_id], door_index_codes=["1", "2"])
    assert client.application_progress([person_id]).outcome is ApplicationOutcome.FAILED
    site.control.clear_faults()  # the door is back
    client.reapply(person_ids=[person_id], door_index_codes=["1", "2"], include_failed=False)
    # ImmediateDownload 1 skipped the failure.
    assert client.application_progress([person_id]).outcome is ApplicationOutcome.FAILED
    assert not site.control.passage("2", person_code="A0004").granted
    client.reapply(person_ids=[person_id], door_index_codes=["1", "2"], include_failed=True)
    assert client.application_progress([person_id]).failures == ()
    assert client.application_failures() == []
    assert site.control.passage("2", person_code="A0004").granted


def test_reapply_without_order_id(client, site):
    """The catalogue's example form: no orderId."""
    person_id = client.add_person(visitor("A0007"), face_jpeg=make_jpeg())
    client.add_persons_to_access_level(MAIN_LEVEL, [person_id])
    client.reapply(person_ids=[person_id], door_index_codes=["1"], send_order_id=False)
    assert site.control.passage("1", person_code="A0007").granted


def test_reapply_unknown_door_names_it(client):
    person_id = client.add_person(visitor("A0003"))
    with pytest.raises(HCPNotFound, match="doorIndexCodes"):
        client.reapply(person_ids=[person_id], door_index_codes=["404"])


def test_door_events_and_pictures(client, site):
    person_id = client.add_person(visitor("E0001"), face_jpeg=make_jpeg())
    client.add_persons_to_access_level(MAIN_LEVEL, [person_id])
    client.reapply(person_ids=[person_id], door_index_codes=["1", "2"])
    granted = site.control.passage("1", person_code="E0001")
    denied = site.control.passage("3", unknown_face=True)
    assert granted.granted
    assert not denied.granted

    now = datetime.now(UTC)
    events = list(client.search_door_events(now - timedelta(hours=1), now + timedelta(minutes=1)))
    assert [e.event_id for e in events] == [granted.event_id, denied.event_id]
    first = events[0]
    assert first.person_id == person_id
    assert first.person_code == "E0001"
    assert first.door_index_code == "1"
    assert first.event_type == granted.event_type
    assert first.event_time.utcoffset() == timedelta(hours=5)
    assert first.pic_uri == granted.pic_uri
    assert "Anna" not in repr(first)

    picture = client.event_picture(granted.pic_uri)
    assert picture.startswith(b"\xff\xd8\xff")

    only_person = list(
        client.search_door_events(
            now - timedelta(hours=1), now + timedelta(minutes=1), person_code="E0001"
        )
    )
    assert [e.event_id for e in only_person] == [granted.event_id]


def test_event_picture_unknown_uri(client):
    with pytest.raises(HCPNotFound):
        client.event_picture("/pic/does-not-exist")


def test_subscriptions(client):
    dest = "https://propusk.example.org/hcp/events"
    client.subscribe_events([196893, 197151], dest=dest, token="s3cret-token", pass_back=True)
    subscriptions = client.view_subscriptions()
    assert {t for s in subscriptions for t in s.event_types} == {196893, 197151}
    assert {s.event_dest for s in subscriptions} == {dest}

    client.unsubscribe_events([197151])
    subscriptions = client.view_subscriptions()
    assert [(s.event_types, s.event_dest) for s in subscriptions] == [((196893,), dest)]

    client.unsubscribe_events([196893])
    assert client.view_subscriptions() == []


def test_more_than_256_event_types_go_in_several_subscriptions(client, limiter):
    dest = "https://propusk.example.org/hcp/events"
    types = list(range(100_000, 100_300))
    limiter.priorities.clear()
    client.subscribe_events(types, dest=dest, token="t")
    assert limiter.calls == 2  # HCP takes at most 256 types per call
    (subscription,) = client.view_subscriptions()
    assert sorted(subscription.event_types) == types
    limiter.priorities.clear()
    client.unsubscribe_events(types)
    assert limiter.calls == 2
    assert client.view_subscriptions() == []


def test_event_types_outside_hcps_range_are_refused_before_sending(client, limiter):
    limiter.priorities.clear()
    for types in ([99_999], [196893, 2_147_483_648]):
        with pytest.raises(ValueError, match=r"outside 100000\.\.2147483647"):
            client.subscribe_events(types, dest="https://x.example/hook", token="t")
        with pytest.raises(ValueError, match="outside"):
            client.unsubscribe_events(types)
    assert limiter.calls == 0
    assert client.view_subscriptions() == []


def test_subscription_error_has_numeric_code_and_field(client):
    # The eventService calls answer numeric codes, errors included.
    with pytest.raises(HCPParameterError) as info:
        client.subscribe_events([196893], dest="https://x.example", token="t" * 300)
    assert info.value.code == "2"
    assert info.value.field == "token"


def test_times_are_sent_in_the_site_offset(client, site):
    begin = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
    client.add_person(visitor("T0001", begin_time=begin, end_time=begin + timedelta(days=1)))
    (person,) = site.control.state()["persons"]
    assert person["beginTime"] == "2030-01-01T05:00:00+05:00"
    assert client.get_person_by_code("T0001").begin_time == begin.astimezone(SITE_TZ)
