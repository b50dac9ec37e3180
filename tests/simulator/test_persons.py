"""Persons, organisations and pictures: HCP's answers, validation and quirks."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hcp_simulator.testing import running_simulator

from .artemis import Artemis
from .conftest import face_b64, face_jpeg

pytestmark = pytest.mark.simulator

ADD = "/api/resource/v1/person/single/add"
UPDATE = "/api/resource/v1/person/single/update"
DELETE = "/api/resource/v1/person/single/delete"
BY_ID = "/api/resource/v1/person/personId/personInfo"
BY_CODE = "/api/resource/v1/person/personCode/personInfo"
LIST = "/api/resource/v1/person/personList"
SEARCH = "/api/resource/v1/person/advance/personList"
FACE = "/api/resource/v1/person/face/update"
PICTURE = "/api/resource/v1/person/picture_data"
ORGS = "/api/resource/v1/org/advance/orgList"


def person(code: str = "G0001", **overrides: Any) -> dict[str, Any]:
    body = {
        "personCode": code,
        "personFamilyName": "Ivanova",
        "personGivenName": "Aigerim",
        "gender": 2,
        "orgIndexCode": "1",
        "phoneNo": "+77010000001",
        "email": "guest@example.org",
        "remark": "conference",
        "faces": [{"faceData": face_b64(1)}],
        "cards": [{"cardNo": "1234567"}],
        "beginTime": "2025-03-01T09:00:00+05:00",
        "endTime": "2025-03-01T18:00:00+05:00",
    }
    body.update(overrides)
    return body


def assert_bad_parameter(envelope: dict[str, Any], field: str) -> None:
    assert envelope["code"] == "2", envelope
    assert f"[{field} parameter error]" in envelope["msg"], envelope


def test_add_answers_the_person_id_as_a_plain_string(sim: Any, api: Artemis) -> None:
    # Short numbers, as a live server answered (and the catalogue's examples show).
    assert api.ok(ADD, person("G1")) == "1"
    assert api.ok(ADD, person("G2")) == "2"
    api.ok(DELETE, {"personId": "2"})
    assert api.ok(ADD, person("G3")) == "3"  # never reused
    sim.control.set_quirks(numeric_person_ids=False)
    guid = api.ok(ADD, person("G4"))
    assert isinstance(guid, str)
    assert len(guid) == 32
    assert api.ok(BY_ID, {"personId": guid})["personCode"] == "G4"


def test_person_info_by_id_and_by_code(api: Artemis) -> None:
    person_id = api.ok(ADD, person())
    info = api.ok(BY_ID, {"personId": person_id})
    assert info == api.ok(BY_CODE, {"personCode": "G0001"})
    assert info["personId"] == person_id
    assert info["personCode"] == "G0001"
    assert info["personName"] == "Aigerim Ivanova"
    assert info["gender"] == 2
    assert info["cards"] == [{"cardNo": "1234567"}]
    assert info["beginTime"] == "2025-03-01T09:00:00+05:00"
    assert info["endTime"] == "2025-03-01T18:00:00+05:00"
    assert info["personPhoto"]["picUri"].startswith("/pic?")
    assert info["customFieldList"] == []


def test_times_are_answered_in_the_site_offset(api: Artemis) -> None:
    person_id = api.ok(
        ADD,
        person(beginTime="2025-03-01T04:00:00+00:00", endTime="2025-03-01T08:30:00.250-05:00"),
    )
    info = api.ok(BY_ID, {"personId": person_id})
    assert info["beginTime"] == "2025-03-01T09:00:00+05:00"
    assert info["endTime"] == "2025-03-01T18:30:00+05:00"


def test_a_duplicate_person_code_is_131(api: Artemis) -> None:
    api.ok(ADD, person())
    envelope = api.call(ADD, person(personGivenName="Other"))
    assert envelope["code"] == "131"
    assert "data" not in envelope


def test_unknown_ids_are_128(api: Artemis) -> None:
    assert api.call(BY_ID, {"personId": "nope"})["code"] == "128"
    assert api.call(BY_CODE, {"personCode": "NOPE"})["code"] == "128"
    assert api.call(UPDATE, {"personId": "nope"})["code"] == "128"
    assert api.call(DELETE, {"personId": "nope"})["code"] == "128"
    assert api.call(FACE, {"personCode": "NOPE", "faceData": face_b64()})["code"] == "128"
    assert api.call(ADD, person(orgIndexCode="77"))["code"] == "128"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"personCode": "G-0001"}, "personCode"),
        ({"personCode": "ABCDEFGHIJ1234567"}, "personCode"),
        ({"personCode": 1001}, "personCode"),
        ({"personFamilyName": ""}, "personFamilyName"),
        ({"personGivenName": None}, "personGivenName"),
        ({"orgIndexCode": None}, "orgIndexCode"),
        ({"gender": 3}, "gender"),
        ({"gender": "1"}, "gender"),
        ({"email": "not-an-email"}, "email"),
        ({"remark": "x" * 129}, "remark"),
        ({"beginTime": "2025-03-01T09:00:00"}, "beginTime"),
        ({"beginTime": "2025-03-01T09:00:00Z"}, "beginTime"),
        ({"beginTime": "2025-03-01 09:00:00+05:00"}, "beginTime"),
        ({"endTime": "2025-02-30T09:00:00+05:00"}, "endTime"),
        ({"endTime": "2038-01-01T00:00:00+05:00"}, "endTime"),
        ({"endTime": "2025-02-01T09:00:00+05:00"}, "endTime"),
        ({"faces": [{"faceData": "data:image/jpeg;base64," + face_b64()}]}, "faceData"),
        ({"faces": [{"faceData": "not base64!"}]}, "faceData"),
        ({"faces": [{"faceData": base64.b64encode(b"GIF89a....").decode()}]}, "faceData"),
        ({"faces": [{"faceData": face_b64()}, {"faceData": face_b64(2)}]}, "faces"),
        ({"cards": [{"cardNo": "12 34"}]}, "cardNo"),
    ],
)
def test_validation_names_the_field(api: Artemis, overrides: dict[str, Any], field: str) -> None:
    assert_bad_parameter(api.call(ADD, person(**overrides)), field)


def test_the_latest_accepted_end_time_is_the_end_of_2037(api: Artemis) -> None:
    person_id = api.ok(ADD, person(endTime="2037-12-31T23:59:59+05:00"))
    assert api.ok(BY_ID, {"personId": person_id})["endTime"] == "2037-12-31T23:59:59+05:00"


def test_a_face_larger_than_the_limit_is_refused(api: Artemis) -> None:
    big = base64.b64encode(face_jpeg(3, size=1800) + b"\0" * 210_000).decode()
    assert_bad_parameter(api.call(ADD, person(faces=[{"faceData": big}])), "faceData")


def test_a_body_that_is_not_a_json_object_is_code_2(api: Artemis) -> None:
    assert_bad_parameter(api.call(ADD, b"[1, 2]"), "body")
    assert_bad_parameter(api.call(ADD, b"{not json"), "body")


def test_an_unknown_path_is_code_8(api: Artemis) -> None:
    envelope = api.call("/api/resource/v1/person/batch/add", {})
    assert envelope["code"] == "8"


def test_update_replaces_the_person_and_clears_what_is_omitted(api: Artemis) -> None:
    person_id = api.ok(ADD, person())
    data = api.ok(
        UPDATE,
        {
            "personId": person_id,
            "beginTime": "2025-03-01T09:00:00+05:00",
            "endTime": "2025-03-02T18:00:00+05:00",
        },
    )
    assert data == "null"  # the catalogue; a live server answered ""
    info = api.ok(BY_ID, {"personId": person_id})
    assert info["personGivenName"] == "Aigerim"  # names and organisation are kept
    assert info["orgIndexCode"] == "1"
    assert info["endTime"] == "2025-03-02T18:00:00+05:00"
    assert info["phoneNo"] == ""  # the rest is cleared
    assert info["email"] == ""
    assert "cards" not in info  # no cards: no key, as in a live answer
    assert info["gender"] == 0
    assert info["personPhoto"]["picUri"]  # faces are not touched by update


def test_answers_in_their_other_shapes(sim: Any, api: Artemis) -> None:
    """The switches for answers a source shows one way and another source (or none) another."""
    sim.control.set_quirks(
        empty_string_for_null=True,
        omit_empty_cards=False,
        empty_pic_uri_without_face=False,
        delete_answers_remain_lock_number=False,
    )
    person_id = api.ok(ADD, person(faces=[], cards=[]))
    assert api.ok(UPDATE, {"personId": person_id, "personGivenName": "Aigerim"}) == ""
    info = api.ok(BY_ID, {"personId": person_id})
    assert info["cards"] == []
    assert "personPhoto" not in info
    assert api.ok(DELETE, {"personId": person_id}) == ""


def test_update_without_times_falls_back_to_the_long_default_validity(api: Artemis) -> None:
    person_id = api.ok(ADD, person())
    api.ok(UPDATE, {"personId": person_id, "personGivenName": "Aigerim"})
    assert api.ok(BY_ID, {"personId": person_id})["endTime"] == "2037-12-31T23:59:59+05:00"


def test_the_person_code_cannot_change(api: Artemis) -> None:
    person_id = api.ok(ADD, person())
    assert_bad_parameter(
        api.call(UPDATE, {"personId": person_id, "personCode": "G0002"}), "personCode"
    )
    assert api.call(UPDATE, {"personId": person_id, "personCode": "G0001"})["code"] == "0"


def test_delete_by_id_or_code(api: Artemis) -> None:
    first = api.ok(ADD, person("G1"))
    api.ok(ADD, person("G2"))
    # The V3 catalogue's success answer.
    assert api.ok(DELETE, {"personId": first}) == {"remainLockNumber": 5}
    assert api.ok(DELETE, {"personCode": "G2"}) == {"remainLockNumber": 5}
    assert api.call(BY_CODE, {"personCode": "G2"})["code"] == "128"
    assert_bad_parameter(api.call(DELETE, {}), "personId")
    # The code is free again.
    assert api.call(ADD, person("G1"))["code"] == "0"


def test_person_list_pages_and_the_empty_page(sim: Any, api: Artemis) -> None:
    empty = api.ok(LIST, {"pageNo": 1, "pageSize": 10})
    assert empty == {"total": 0, "pageNo": 1, "pageSize": 10, "list": []}
    sim.control.set_quirks(empty_page_without_list=True)
    assert api.ok(LIST, {"pageNo": 1, "pageSize": 10}) == {"total": 0, "pageNo": 0, "pageSize": 0}
    sim.control.set_quirks(empty_page_without_list=False)
    for number in range(5):
        api.ok(ADD, person(f"P{number}"))
    first = api.ok(LIST, {"pageNo": 1, "pageSize": 2})
    assert first["total"] == 5
    assert [p["personCode"] for p in first["list"]] == ["P0", "P1"]
    last = api.ok(LIST, {"pageNo": 3, "pageSize": 2})
    assert [p["personCode"] for p in last["list"]] == ["P4"]
    beyond = api.ok(LIST, {"pageNo": 4, "pageSize": 2})
    assert beyond == {"total": 5, "pageNo": 4, "pageSize": 2, "list": []}
    sim.control.set_quirks(empty_page_without_list=True)
    assert api.ok(LIST, {"pageNo": 4, "pageSize": 2}) == {"total": 5, "pageNo": 4, "pageSize": 2}


@pytest.mark.parametrize(
    ("paging", "field"),
    [
        ({"pageNo": 1, "pageSize": 501}, "pageSize"),
        ({"pageNo": 1, "pageSize": 0}, "pageSize"),
        ({"pageNo": 0, "pageSize": 10}, "pageNo"),
        ({"pageNo": 1}, "pageSize"),
        ({"pageSize": 10}, "pageNo"),
        ({"pageNo": "1", "pageSize": 10}, "pageNo"),
        ({"pageNo": 1, "pageSize": 10.0}, "pageSize"),
    ],
)
def test_paging_limits(api: Artemis, paging: dict[str, Any], field: str) -> None:
    for path in (LIST, SEARCH, ORGS, "/api/resource/v1/acsDoor/acsDoorList"):
        assert_bad_parameter(api.call(path, paging), field)
    assert api.call(LIST, {"pageNo": 1, "pageSize": 500})["code"] == "0"


def test_advanced_search_by_name(api: Artemis) -> None:
    api.ok(ADD, person("A1", personGivenName="Dana"))
    api.ok(ADD, person("A2", personGivenName="Daniyar"))
    api.ok(ADD, person("A3", personGivenName="Erlan"))
    found = api.ok(SEARCH, {"pageNo": 1, "pageSize": 10, "personName": "dan"})
    assert sorted(p["personCode"] for p in found["list"]) == ["A1", "A2"]
    assert api.ok(SEARCH, {"pageNo": 1, "pageSize": 10, "personName": "zz"})["list"] == []


def test_face_update_and_picture_data(api: Artemis) -> None:
    person_id = api.ok(ADD, person(faces=[]))
    info = api.ok(BY_ID, {"personId": person_id})
    assert info["personPhoto"] == {"picUri": ""}  # no face, as in a live answer
    assert api.ok(FACE, {"personId": person_id, "faceData": face_b64(7)}) == ""
    pic_uri = api.ok(BY_ID, {"personId": person_id})["personPhoto"]["picUri"]
    response = api.raw(PICTURE, {"personId": person_id, "picUri": pic_uri})
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == face_jpeg(7)
    # A new face gets a new URI; the old one is gone.
    api.ok(FACE, {"personCode": "G0001", "faceData": face_b64(8)})
    stale = api.raw(PICTURE, {"personId": person_id, "picUri": pic_uri})
    assert stale.headers["content-type"].startswith("application/json")
    assert stale.json()["code"] == "128"
    assert_bad_parameter(api.call(FACE, {"personId": person_id, "faceData": "data:x"}), "faceData")


def test_org_list_is_a_traversing_search(sim: Any, api: Artemis) -> None:
    sim.control.add_org("2", "Faculty of Physics")
    sim.control.add_org("3", "Physics guests", parent="2")
    sim.control.add_org("4", "Library")
    everything = api.ok(ORGS, {"pageNo": 1, "pageSize": 10})
    assert everything["total"] == 4
    assert everything["list"][0] == {
        "orgIndexCode": "1",
        "orgName": "Root",
        "parentOrgIndexCode": "0",
    }
    guests = api.ok(ORGS, {"pageNo": 1, "pageSize": 10, "orgName": "guests"})
    assert sorted(org["orgIndexCode"] for org in guests["list"]) == ["1", "2", "3"]


def test_version(api: Artemis) -> None:
    assert api.ok("/api/common/v1/version", {})["produceName"] == "HikCentral Professional"


def test_a_user_id_header_longer_than_32_is_refused(api: Artemis) -> None:
    request = api.build("/api/common/v1/version", {})
    response = api.send(request.with_header("userId", "u" * 33))
    assert_bad_parameter(response.json(), "userId")


def test_delete_with_an_admin_password_counts_down_to_a_lock() -> None:
    with running_simulator(admin_password="s3cret") as sim:
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            person_id = api.ok(ADD, person())
            assert_bad_parameter(api.call(DELETE, {"personId": person_id}), "adminPassword")
            remaining = []
            for _ in range(5):
                envelope = api.call(DELETE, {"personId": person_id, "adminPassword": "guess"})
                remaining.append(envelope["data"]["remainLockNumber"])
            assert remaining == [4, 3, 2, 1, 0]
            assert envelope["code"] == "65"
            locked = api.call(DELETE, {"personId": person_id, "adminPassword": "s3cret"})
            assert locked["code"] == "65"
            sim.control.advance_clock(31 * 60)
            assert (
                api.call(DELETE, {"personId": person_id, "adminPassword": "s3cret"})["code"] == "0"
            )
        finally:
            api.close()
