"""Access levels, asynchronous application to devices, and the turnstile's decisions."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator

from .artemis import Artemis
from .conftest import face_b64, face_jpeg
from .test_persons import ADD, DELETE, FACE, UPDATE, person

pytestmark = pytest.mark.simulator

LEVELS = "/api/acs/v1/privilege/group"
ADD_MEMBERS = "/api/acs/v1/privilege/group/single/addPersons"
DELETE_MEMBERS = "/api/acs/v1/privilege/group/single/deletePersons"
MEMBERS = "/api/acs/v1/privilege/group/single/personList"
REAPPLY = "/api/visitor/v1/auth/reapplication"
RESULT = "/api/acs/v1/auth/applicationResult"
DOORS = "/api/resource/v1/acsDoor/acsDoorList"

# Wide enough to contain the simulator clock whatever today is.
ALWAYS = {"beginTime": "2020-01-01T00:00:00+05:00", "endTime": "2037-12-31T23:59:59+05:00"}


def add_guest(api: Artemis, code: str = "G0001", level: str | None = "1", **fields: Any) -> str:
    person_id: str = api.ok(ADD, person(code, **{**ALWAYS, **fields}))
    if level is not None:
        api.ok(ADD_MEMBERS, {"privilegeGroupId": level, "type": 1, "list": [{"id": person_id}]})
    return person_id


def reapply(api: Artemis, **selection: Any) -> None:
    # The catalogue's answer is "null" (the simulator's default).
    assert api.ok(REAPPLY, {"orderId": "", "ImmediateDownload": 0, **selection}) == "null"


def stats(api: Artemis) -> dict[str, int]:
    result: dict[str, int] = api.ok(RESULT, {"applicationResultType": 1, "type": 1})
    return result


def test_demo_access_levels_and_doors(api: Artemis) -> None:
    levels = api.ok(LEVELS, {"pageNo": 1, "pageSize": 10, "type": 1})
    assert [(lvl["privilegeGroupId"], lvl["privilegeGroupName"]) for lvl in levels["list"]] == [
        ("1", "Guests"),
        ("2", "VIP guests"),
        ("3", "Students"),
    ]
    assert levels["list"][0]["timeSchedule"] == {"indexCode": "1", "name": "All-day Template"}
    assert api.ok(LEVELS, {"pageNo": 1, "pageSize": 10, "type": 2})["list"] == []
    doors = api.ok(DOORS, {"pageNo": 1, "pageSize": 10})
    assert [d["doorName"] for d in doors["list"]] == [
        "Main entrance turnstile 1",
        "Main entrance turnstile 2",
        "Library gate",
        "Administration floor",
    ]
    assert set(doors["list"][0]) == {
        "doorIndexCode",
        "doorName",
        "doorState",
        "acsDevIndexCode",
        "regionIndexCode",
    }


def test_a_fresh_simulator_has_only_the_root_org() -> None:
    with running_simulator() as sim:
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            orgs = api.ok("/api/resource/v1/org/advance/orgList", {"pageNo": 1, "pageSize": 10})
            assert orgs["list"] == [
                {"orgIndexCode": "1", "orgName": "Root", "parentOrgIndexCode": "0"}
            ]
            assert api.ok(DOORS, {"pageNo": 1, "pageSize": 10})["list"] == []
            assert api.ok(LEVELS, {"pageNo": 1, "pageSize": 10, "type": 1})["list"] == []
        finally:
            api.close()


def test_membership_add_list_delete(api: Artemis) -> None:
    first = add_guest(api, "G1", level=None)
    second = add_guest(api, "G2", level=None)
    body = {"privilegeGroupId": "2", "type": 1, "list": [{"id": first}, {"id": second}]}
    assert api.ok(ADD_MEMBERS, body) == ""
    assert api.ok(ADD_MEMBERS, body) == ""  # idempotent
    members = api.ok(MEMBERS, {"privilegeGroupId": "2", "type": 1, "pageNo": 1, "pageSize": 10})
    assert members["list"] == [
        {"id": first, "personCode": "G1"},
        {"id": second, "personCode": "G2"},
    ]
    api.ok(DELETE_MEMBERS, {"privilegeGroupId": "2", "type": 1, "list": [{"id": first}]})
    members = api.ok(MEMBERS, {"privilegeGroupId": "2", "type": 1, "pageNo": 1, "pageSize": 10})
    assert members["list"] == [{"id": second, "personCode": "G2"}]


def test_membership_errors(api: Artemis) -> None:
    person_id = add_guest(api, level=None)
    unknown_level = {"privilegeGroupId": "99", "type": 1, "list": [{"id": person_id}]}
    assert api.call(ADD_MEMBERS, unknown_level)["code"] == "128"
    wrong_type = {"privilegeGroupId": "1", "type": 2, "list": [{"id": person_id}]}
    assert api.call(ADD_MEMBERS, wrong_type)["code"] == "128"
    unknown_person = {"privilegeGroupId": "1", "type": 1, "list": [{"id": person_id}, {"id": "x"}]}
    assert api.call(ADD_MEMBERS, unknown_person)["code"] == "128"
    # All or nothing: the known person was not added either.
    members = api.ok(MEMBERS, {"privilegeGroupId": "1", "type": 1, "pageNo": 1, "pageSize": 10})
    assert members["list"] == []
    empty = api.call(ADD_MEMBERS, {"privilegeGroupId": "1", "type": 1, "list": []})
    assert empty["code"] == "2"
    assert "[list parameter error]" in empty["msg"]
    no_type = api.call(ADD_MEMBERS, {"privilegeGroupId": "1", "list": [{"id": person_id}]})
    assert "[type parameter error]" in no_type["msg"]


def test_changes_wait_until_reapplied(sim: SimulatorHandle, api: Artemis) -> None:
    person_id = add_guest(api)
    assert stats(api) == {"toBeAppliedNum": 1, "applyingNum": 0, "failedNum": 0}
    denied = sim.control.passage("1", person_code="G0001")
    assert (denied.granted, denied.reason) == (False, "not_applied")
    reapply(api, personIds=person_id)
    assert stats(api) == {"toBeAppliedNum": 0, "applyingNum": 0, "failedNum": 0}
    granted = sim.control.passage("1", person_code="G0001")
    assert (granted.granted, granted.reason, granted.event_type) == (True, "granted", 196893)
    assert granted.person_id == person_id
    doors = sim.control.state()["persons"][0]["doors"]
    assert sorted(doors) == ["1", "2"]
    assert doors["1"]["status"] == "applied"
    assert doors["1"]["applied"]["accessLevels"] == ["1"]


def test_revocation_also_waits_until_reapplied(sim: SimulatorHandle, api: Artemis) -> None:
    person_id = add_guest(api)
    reapply(api)
    api.ok(DELETE_MEMBERS, {"privilegeGroupId": "1", "type": 1, "list": [{"id": person_id}]})
    assert sim.control.passage("1", person_code="G0001").granted  # the device still has it
    assert sim.control.state()["persons"][0]["doors"]["1"]["status"] == "waiting"
    reapply(api, doorIndexCodes="1")
    assert sim.control.passage("1", person_code="G0001").reason == "no_access_level"
    assert sim.control.passage("2", person_code="G0001").granted  # door 2 not reapplied yet
    reapply(api)
    assert not sim.control.passage("2", person_code="G0001").granted


def test_a_changed_validity_reaches_the_turnstile_only_when_applied(
    sim: SimulatorHandle, api: Artemis
) -> None:
    person_id = add_guest(api)
    reapply(api)
    past = {"beginTime": "2020-01-01T00:00:00+05:00", "endTime": "2020-01-02T00:00:00+05:00"}
    api.ok(UPDATE, {"personId": person_id, **past})
    assert sim.control.passage("1", person_code="G0001").granted
    reapply(api, personIds=person_id)
    expired = sim.control.passage("1", person_code="G0001")
    assert (expired.granted, expired.reason) == (False, "outside_validity")
    assert expired.person_id == person_id  # recognised, and refused


def test_deleted_persons_stay_on_devices_until_reapplied(
    sim: SimulatorHandle, api: Artemis
) -> None:
    person_id = add_guest(api)
    reapply(api)
    api.ok(DELETE, {"personId": person_id})
    assert sim.control.passage("1", person_code="G0001").granted
    state = sim.control.state()
    assert state["persons"] == [
        {"personId": person_id, "deleted": True, "doors": state["persons"][0]["doors"]}
    ]
    assert stats(api)["toBeAppliedNum"] == 1
    reapply(api, personIds=person_id)
    assert sim.control.passage("1", person_code="G0001").reason == "unknown_person"
    assert sim.control.state()["persons"] == []


@pytest.mark.parametrize(
    ("setup", "door", "reason", "event_type"),
    [
        ("no_face", "1", "no_face", 197160),  # facial recognition failed
        ("no_level", "1", "no_access_level", 197635),  # no access level assigned
        ("other_door", "3", "door_not_in_access_level", 197151),  # access denied by face
        ("future", "1", "outside_validity", 197384),  # invalid time period
        ("expired", "1", "outside_validity", 197633),  # card no. expired
    ],
)
def test_denials(
    sim: SimulatorHandle, api: Artemis, setup: str, door: str, reason: str, event_type: int
) -> None:
    fields: dict[str, Any] = {}
    level: str | None = "1"
    if setup == "no_face":
        fields["faces"] = []
    elif setup == "no_level":
        level = None
    elif setup == "future":
        fields.update(beginTime="2037-01-01T00:00:00+05:00", endTime="2037-02-01T00:00:00+05:00")
    elif setup == "expired":
        fields.update(beginTime="2020-01-01T00:00:00+05:00", endTime="2020-02-01T00:00:00+05:00")
    add_guest(api, level=level, **fields)
    reapply(api)
    result = sim.control.passage(door, person_code="G0001")
    assert (result.granted, result.reason) == (False, reason)
    assert result.event_type == event_type
    # Switched back to one code for every denial.
    sim.control.set_quirks(denial_event_type=197151)
    assert sim.control.passage(door, person_code="G0001").event_type == 197151


def test_an_unknown_face_is_denied_without_a_person(sim: SimulatorHandle, api: Artemis) -> None:
    add_guest(api)
    reapply(api)
    result = sim.control.passage("1", unknown_face=True)
    assert (result.granted, result.reason, result.person_id) == (False, "face_not_matched", "")
    assert result.event_type == 197160  # facial recognition failed
    assert sim.control.passage("1", person_code="NOBODY").reason == "unknown_person"


def test_passage_by_face_matches_the_applied_face(sim: SimulatorHandle, api: Artemis) -> None:
    person_id = add_guest(api)
    reapply(api)
    assert sim.control.passage("1", face_jpeg=face_jpeg(1)).person_id == person_id
    assert sim.control.passage("1", face_jpeg=face_jpeg(2)).reason == "face_not_matched"
    api.ok(FACE, {"personId": person_id, "faceData": face_b64(2)})
    assert sim.control.passage("1", face_jpeg=face_jpeg(2)).reason == "face_not_matched"
    reapply(api)
    assert sim.control.passage("1", face_jpeg=face_jpeg(2)).granted
    assert not sim.control.passage("1", face_jpeg=face_jpeg(1)).granted


def test_validity_is_checked_at_the_simulator_clock(sim: SimulatorHandle, api: Artemis) -> None:
    now = sim.control.now()
    window = {
        "beginTime": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
        "endTime": (now + timedelta(hours=1)).isoformat(timespec="seconds"),
    }
    add_guest(api, **window)
    reapply(api)
    assert sim.control.passage("1", person_code="G0001").granted
    sim.control.advance_clock(2 * 3600)
    assert sim.control.passage("1", person_code="G0001").reason == "outside_validity"
    sim.control.set_clock(now)
    assert sim.control.passage("1", person_code="G0001").granted
    back_dated = sim.control.passage("1", person_code="G0001", at=now - timedelta(hours=3))
    assert back_dated.reason == "outside_validity"


def test_reapplication_validates_its_input(api: Artemis) -> None:
    assert "[orderId parameter error]" in api.call(REAPPLY, {"orderId": 1})["msg"]
    assert api.call(REAPPLY, {"orderId": "", "doorIndexCodes": "1,99"})["code"] == "128"
    assert api.call(REAPPLY, {"orderId": "", "personIds": ["a"]})["code"] == "2"
    assert api.call(REAPPLY, {"orderId": "", "ImmediateDownload": 2})["code"] == "2"
    assert api.call(REAPPLY, {"orderId": "", "personIds": "a,,b"})["code"] == "2"
    assert api.call(REAPPLY, {"orderId": "", "personIds": "unknown-id"})["code"] == "0"


def test_application_result_validation(api: Artemis) -> None:
    assert "[applicationResultType" in api.call(RESULT, {"type": 1})["msg"]
    assert "[type parameter error]" in api.call(RESULT, {"applicationResultType": 1})["msg"]
    assert api.ok(RESULT, {"applicationResultType": 1, "type": 2}) == {
        "toBeAppliedNum": 0,
        "applyingNum": 0,
        "failedNum": 0,
    }


def test_an_offline_door_fails_application_and_is_reported(
    sim: SimulatorHandle, api: Artemis
) -> None:
    person_id = add_guest(api, level="2")  # doors 1-4
    sim.control.add_fault("door_offline", doorIndexCode="3")
    reapply(api)
    assert stats(api) == {"toBeAppliedNum": 0, "applyingNum": 0, "failedNum": 1}
    errors = api.ok(RESULT, {"applicationResultType": 2, "type": 1, "pageNo": 1, "pageSize": 10})
    assert errors["total"] == 1
    failure = errors["list"][0]
    assert failure["personId"] == person_id
    assert failure["doorIndexCode"] == "3"
    assert failure["doorName"] == "Library gate"
    assert failure["errorCode"] == "194"
    assert sim.control.passage("3", person_code="G0001").reason == "not_applied"
    assert sim.control.passage("4", person_code="G0001").granted
    # ImmediateDownload 1 skips what failed before; 0 retries it.
    sim.control.clear_faults()
    api.ok(REAPPLY, {"orderId": "", "ImmediateDownload": 1})
    assert stats(api)["failedNum"] == 1
    reapply(api)
    assert stats(api) == {"toBeAppliedNum": 0, "applyingNum": 0, "failedNum": 0}
    assert api.ok(RESULT, {"applicationResultType": 2, "type": 1})["list"] == []
    assert sim.control.passage("3", person_code="G0001").granted


def test_application_takes_the_configured_delay() -> None:
    with running_simulator(seed_demo=True, apply_delay=1.0) as sim:
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            add_guest(api)
            reapply(api)
            assert stats(api) == {"toBeAppliedNum": 0, "applyingNum": 1, "failedNum": 0}
            assert sim.control.passage("1", person_code="G0001").reason == "not_applied"
            assert sim.control.state()["persons"][0]["doors"]["1"]["status"] == "applying"
            time.sleep(1.1)
            assert stats(api) == {"toBeAppliedNum": 0, "applyingNum": 0, "failedNum": 0}
            assert sim.control.passage("1", person_code="G0001").granted
            # Moving the clock also lets the delay elapse.
            api.ok(
                DELETE_MEMBERS,
                {"privilegeGroupId": "1", "type": 1, "list": [{"id": add_guest(api, "G2")}]},
            )
            reapply(api)
            sim.control.advance_clock(1.5)
            assert stats(api) == {"toBeAppliedNum": 0, "applyingNum": 0, "failedNum": 0}
        finally:
            api.close()


def test_control_api_changes_to_levels_make_persons_wait(
    sim: SimulatorHandle, api: Artemis
) -> None:
    add_guest(api)
    reapply(api)
    sim.control.add_access_level("1", "Guests", ["1", "2", "3"])
    assert stats(api)["toBeAppliedNum"] == 1
    assert sim.control.passage("3", person_code="G0001").reason == "not_applied"
    reapply(api)
    assert sim.control.passage("3", person_code="G0001").granted


def test_reapplication_without_order_id_or_body_applies_everything(
    sim: SimulatorHandle, api: Artemis
) -> None:
    """The catalogue's example has no orderId; integrations also send {} or no body."""
    for number, body in enumerate(
        [{"ImmediateDownload": 0, "personIds": "", "doorIndexCodes": "1,2"}, {}, b""]
    ):
        code = f"G{number}"
        add_guest(api, code)
        assert sim.control.passage("1", person_code=code).reason == "not_applied"
        assert api.ok(REAPPLY, body) == "null"
        assert sim.control.passage("1", person_code=code).granted, body


def test_membership_by_person_code(sim: SimulatorHandle, api: Artemis) -> None:
    first = add_guest(api, "G1", level=None)
    add_guest(api, "G2", level=None)
    body = {"privilegeGroupId": "1", "type": 1, "list": [{"personCode": "G1"}, {"id": first}]}
    assert api.ok(ADD_MEMBERS, body) == ""
    members = api.ok(MEMBERS, {"privilegeGroupId": "1", "type": 1, "pageNo": 1, "pageSize": 10})
    assert members["list"] == [{"id": first, "personCode": "G1"}]
    unknown = {
        "privilegeGroupId": "1",
        "type": 1,
        "list": [{"personCode": "G2"}, {"personCode": "NOBODY"}],
    }
    assert api.call(ADD_MEMBERS, unknown)["code"] == "128"
    assert (
        api.ok(DELETE_MEMBERS, {"privilegeGroupId": "1", "type": 1, "list": [{"personCode": "G1"}]})
        == ""
    )
    assert sim.control.state()["accessLevels"][0]["personIds"] == []
    nameless = api.call(ADD_MEMBERS, {"privilegeGroupId": "1", "type": 1, "list": [{}]})
    assert "[id parameter error]" in nameless["msg"]


def test_at_most_20_persons_per_membership_call(sim: SimulatorHandle, api: Artemis) -> None:
    """The catalogue: "Up to 20 person IDs are allowed"; switchable for servers without it."""
    ids = [add_guest(api, f"G{n}", level=None) for n in range(21)]
    members = [{"id": pid} for pid in ids]
    too_many = {"privilegeGroupId": "1", "type": 1, "list": members}
    for path in (ADD_MEMBERS, DELETE_MEMBERS):
        envelope = api.call(path, too_many)
        assert (envelope["code"], "[list parameter error]" in envelope["msg"]) == ("2", True)
    assert sim.control.state()["accessLevels"][0]["personIds"] == []
    assert api.ok(ADD_MEMBERS, {**too_many, "list": members[:20]}) == ""
    sim.control.set_quirks(max_persons_per_level_call=0)
    assert api.ok(ADD_MEMBERS, too_many) == ""
    assert len(sim.control.state()["accessLevels"][0]["personIds"]) == 21


def test_application_result_in_each_shape(sim: SimulatorHandle, api: Artemis) -> None:
    """No public source shows the answer: the simulator offers three shapes."""
    sim.control.add_fault("door_offline", doorIndexCode="2")
    person_id = add_guest(api, "G1")  # doors 1, 2
    add_guest(api, "G2")
    reapply(api, personIds=person_id)
    assert stats(api) == {"toBeAppliedNum": 1, "applyingNum": 0, "failedNum": 1}

    sim.control.set_quirks(application_result_shape="element-status")
    details = api.ok(RESULT, {"applicationResultType": 1, "type": 1})["ElementDetailList"]
    statuses = {
        (item["personCode"], item["doorIndexCode"]): item["ElementStatus"][0]["elementStatus"]
        for item in details["ElementDetail"]
    }
    # 0 applied, 1 pending, 2 failed (the visitor module's elementDownloadDetail codes).
    assert statuses == {("G1", "1"): 0, ("G1", "2"): 2, ("G2", "1"): 1, ("G2", "2"): 1}

    sim.control.set_quirks(application_result_shape="empty")
    assert api.ok(RESULT, {"applicationResultType": 1, "type": 1}) == ""
    # The failure list keeps its page shape.
    failures = api.ok(RESULT, {"applicationResultType": 2, "type": 1, "pageNo": 1, "pageSize": 5})
    assert [(f["personId"], f["doorIndexCode"]) for f in failures["list"]] == [(person_id, "2")]
