"""Injected faults, the quota, the control API itself, the state file and TLS."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hcp_simulator.testing import SimulatorHandle, running_simulator

from .artemis import Artemis
from .test_devices import add_guest, reapply
from .test_persons import ADD, BY_CODE, LIST, person

pytestmark = pytest.mark.simulator

VERSION = "/api/common/v1/version"


def elapsed(action: object) -> float:
    start = time.monotonic()
    assert callable(action)
    action()
    return time.monotonic() - start


def test_latency_fault(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.add_fault("latency", path="/api/common/*", count=1, ms=500)
    assert elapsed(lambda: api.ok(VERSION)) >= 0.5
    assert elapsed(lambda: api.ok(VERSION)) < 0.4


def test_code_fault_matches_a_path_glob_for_n_calls(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.add_fault(
        "code", path="/artemis/api/resource/v1/person/*", count=2, code="6", msg="Busy"
    )
    assert api.call(ADD, person("A1")) == {"code": "6", "msg": "Busy"}
    assert api.ok(VERSION)  # another path is not affected
    assert api.call(LIST, {"pageNo": 1, "pageSize": 1})["code"] == "6"
    assert api.call(ADD, person("A1"))["code"] == "0"  # used up; the faulted add did nothing
    assert sim.control.faults()["rules"] == []


def test_a_code_fault_keeps_the_paths_numeric_code(sim: SimulatorHandle, api: Artemis) -> None:
    """The eventService calls (and paths switched by the quirk) answer their errors with a
    numeric code; an injected one is no exception."""
    view = "/api/eventService/v1/eventSubscriptionView"
    sim.control.add_fault("code", path=view, count=1, code="6", msg="Busy")
    assert api.call(view) == {"code": 6, "msg": "Busy"}
    sim.control.set_quirks(numeric_code_paths=["/api/common/*"])
    sim.control.add_fault("code", path=VERSION, count=2, code="0x00052101")
    assert api.call(VERSION)["code"] == "0x00052101"  # hexadecimal codes stay strings
    sim.control.clear_faults()
    sim.control.add_fault("code", path=VERSION, count=1, code="5")
    assert api.call(VERSION)["code"] == 5
    assert api.call("/api/resource/v1/person/personList", {"pageNo": 1})["code"] == "2"


def test_a_fault_without_count_lasts_until_cleared(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.add_fault("code", code="0x00052101")
    for _ in range(3):
        assert api.call(VERSION)["code"] == "0x00052101"
    sim.control.clear_faults()
    assert api.call(VERSION)["code"] == "0"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_http_fault(sim: SimulatorHandle, api: Artemis, status: int) -> None:
    sim.control.add_fault("http", count=1, status=status, retryAfter=2)
    response = api.raw(VERSION)
    assert response.status_code == status
    assert response.headers["retry-after"] == "2"
    assert api.call(VERSION)["code"] == "0"


def test_timeout_fault_holds_the_request(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.add_fault("timeout", count=1, seconds=30)
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            "/artemis" + VERSION, headers=api.build(VERSION).headers, content=b"{}", timeout=0.3
        )
    sim.control.add_fault("timeout", count=1, seconds=30)
    answers: list[int] = []
    request = api.build(VERSION)
    waiting = threading.Thread(target=lambda: answers.append(api.send(request).status_code))
    waiting.start()
    deadline = time.monotonic() + 5
    while sim.control.faults()["rules"]:  # the held request has taken the one-shot rule
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sim.control.clear_faults()  # releases held requests
    waiting.join(timeout=5)
    assert answers == [504]


def test_drop_fault_resets_the_connection_and_does_nothing(
    sim: SimulatorHandle, api: Artemis
) -> None:
    sim.control.add_fault("drop", path="/api/resource/v1/person/single/add", count=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.raw(ADD, person("D1"))
    assert api.call(BY_CODE, {"personCode": "D1"})["code"] == "128"
    assert api.call(ADD, person("D1"))["code"] == "0"


def test_lost_response_applies_the_change(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.add_fault("lost_response", path="/api/resource/v1/person/single/add", count=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.raw(ADD, person("L1"))
    assert api.call(BY_CODE, {"personCode": "L1"})["code"] == "0"
    assert api.call(ADD, person("L1"))["code"] == "131"  # the retry meets the duplicate


def test_lost_response_can_answer_a_5xx(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.add_fault("lost_response", path="*/single/add", count=1, status=502)
    assert api.raw(ADD, person("L2")).status_code == 502
    assert api.call(BY_CODE, {"personCode": "L2"})["code"] == "0"


def test_page_limit_fault(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.add_fault(
        "page_limit", path="/api/resource/v1/person/personList", count=1, maxPageSize=100
    )
    assert api.call(LIST, {"pageNo": 1, "pageSize": 100})["code"] == "0"  # within: passes
    assert api.call(LIST, {"pageNo": 1, "pageSize": 200})["code"] == "0x00072004"
    assert api.call(LIST, {"pageNo": 1, "pageSize": 200})["code"] == "0"


def test_quota_fault(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.add_fault("quota", rps=5)
    codes = [api.call(VERSION)["code"] for _ in range(20)]
    assert codes[:5] == ["0"] * 5
    assert "0x02401009" in codes
    time.sleep(0.4)
    assert api.call(VERSION)["code"] == "0"  # refilled
    sim.control.clear_faults()
    assert all(api.call(VERSION)["code"] == "0" for _ in range(20))


def test_invalid_fault_rules_are_refused(sim: SimulatorHandle) -> None:
    for rule in (
        {"kind": "explode"},
        {"kind": "http", "status": 200},
        {"kind": "latency", "ms": -1},
    ):
        response = httpx.post(sim.base_url + "/simulator/v1/faults", json=rule)
        assert response.status_code == 400
        assert "error" in response.json()


def test_quota_and_latency_options() -> None:
    with running_simulator(quota_rps=2, latency_ms=100) as sim:
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            assert elapsed(lambda: api.ok(VERSION)) >= 0.1
            codes = [api.call(VERSION)["code"] for _ in range(10)]
            assert "0x02401009" in codes
            # A fault rule replaces the quota; clearing restores the command-line value.
            sim.control.add_fault("quota", rps=0)
            assert all(api.call(VERSION)["code"] == "0" for _ in range(8))
            sim.control.clear_faults()
            assert sim.control.faults()["quotaRps"] == 2
        finally:
            api.close()


def test_clock_moves(sim: SimulatorHandle) -> None:
    before = sim.control.now()
    moved = sim.control.advance_clock(3600)
    assert timedelta(minutes=59) < moved - before < timedelta(minutes=61)
    assert moved.utcoffset() == timedelta(hours=5)
    target = datetime.fromisoformat("2030-06-01T09:00:00+05:00")
    assert sim.control.set_clock(target) - target < timedelta(seconds=1)
    assert sim.control.now() - target < timedelta(seconds=2)
    sim.control.reset()
    assert abs(sim.control.now() - before) < timedelta(minutes=1)


def test_reset_and_seeding(sim: SimulatorHandle, api: Artemis) -> None:
    add_guest(api)
    sim.control.reset(seed_demo=False)
    state = sim.control.state()
    assert (state["doors"], state["accessLevels"], state["persons"]) == ([], [], [])
    assert [org["orgIndexCode"] for org in state["orgs"]] == ["1"]
    for number in range(12):
        sim.control.add_door(f"D{number}", f"Door {number}")
    sim.control.add_access_level("10", "Everything", [f"D{n}" for n in range(12)])
    sim.control.add_org("5", "Visitors")
    state = sim.control.state()
    assert len(state["doors"]) == 12
    assert state["accessLevels"][0]["doorIndexCodes"][-1] == "D11"
    assert state["orgs"][-1]["parentOrgIndexCode"] == "1"
    bad = httpx.post(
        sim.base_url + "/simulator/v1/access-levels",
        json={"privilegeGroupId": "x", "privilegeGroupName": "x", "doorIndexCodes": ["nope"]},
    )
    assert bad.status_code == 400
    sim.control.reset()
    assert len(sim.control.state()["doors"]) == 4


def test_a_face_removed_by_hand_leaves_the_device_until_applied(
    sim: SimulatorHandle, api: Artemis
) -> None:
    add_guest(api, beginTime="2020-01-01T00:00:00+05:00", endTime="2037-01-01T00:00:00+05:00")
    reapply(api)
    assert sim.control.passage("1", person_code="G0001").granted

    sim.control.remove_face("G0001")

    info = api.ok(BY_CODE, {"personCode": "G0001"})
    assert info["personPhoto"]["picUri"] == ""
    assert sim.control.passage("1", person_code="G0001").granted  # the device keeps it
    reapply(api)
    assert sim.control.passage("1", person_code="G0001").reason == "no_face"
    missing = httpx.delete(sim.base_url + "/simulator/v1/persons/G0002/face")
    assert missing.status_code == 404


def test_quirks_can_be_switched_per_test(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.set_quirks(numeric_code_paths=["/api/resource/*"], total_num_paths=[LIST])
    assert api.call(VERSION)["code"] == "0"
    page = api.call(LIST, {"pageNo": 1, "pageSize": 5})
    assert page["code"] == 0
    assert page["data"] == {"totalNum": 0, "pageNo": 1, "pageSize": 5, "list": []}
    assert api.call(BY_CODE, {"personCode": "X"})["code"] == 128
    sim.control.reset()
    assert api.call(LIST, {"pageNo": 1, "pageSize": 5})["data"] == {
        "total": 0,
        "pageNo": 1,
        "pageSize": 5,
        "list": [],
    }


# Every answer switch in its textbook shape ("off") and with every variation ("on").
OFF = {
    "numericCodePaths": [],
    "totalNumPaths": [],
    "emptyPageWithoutList": False,
    "numericPersonIds": False,
    "emptyPicUriWithoutFace": False,
    "omitEmptyCards": False,
    "deleteAnswersRemainLockNumber": False,
    "emptyStringForNull": False,
    "ignoreEventTypeFilter": False,
    "applicationResultShape": "counts",
    "denialEventType": None,
    "pictureFormat": "binary",
    "strictDoorEvents": False,
    "maxPersonsPerLevelCall": 20,
    "faceCheckAbsent": False,
    "elementDetailRefused": False,
}
ON = {
    **{key: not value for key, value in OFF.items() if isinstance(value, bool)},
    "numericCodePaths": ["/api/*"],
    "totalNumPaths": ["/api/*"],
    "applicationResultShape": "empty",
    "denialEventType": 197151,
    "pictureFormat": "base64",
    # What a server demands of the caller, or offers, is not an answer's shape: presets keep it.
    "strictDoorEvents": False,
    "maxPersonsPerLevelCall": 20,
    "faceCheckAbsent": False,
    "elementDetailRefused": False,
}


def test_the_defaults_follow_the_public_sources(sim: SimulatorHandle) -> None:
    assert sim.control.quirks() == {
        **OFF,
        "numericPersonIds": True,  # a live log, the catalogue's examples
        "emptyPicUriWithoutFace": True,  # a live log
        "omitEmptyCards": True,  # a live log
        "deleteAnswersRemainLockNumber": True,  # the V3 catalogue
    }


def test_presets_and_single_switches_through_the_control_api(
    sim: SimulatorHandle, api: Artemis
) -> None:
    assert sim.control.set_quirks(preset="on") == ON
    assert api.call(VERSION)["code"] == 0
    assert sim.control.set_quirks(preset="off", application_result_shape="element-status") == {
        **OFF,
        "applicationResultShape": "element-status",
    }
    assert sim.control.state()["quirks"]["applicationResultShape"] == "element-status"
    for body in (
        {"noSuchQuirk": True},
        {"emptyPageWithoutList": "yes"},
        {"applicationResultShape": "guess"},
        {"denialEventType": 42},
        {"maxPersonsPerLevelCall": -1},
        {"preset": "loud"},
        {"preset": "on", "numericCodePaths": "/api/*"},
    ):
        response = httpx.put(sim.base_url + "/simulator/v1/quirks", json=body)
        assert response.status_code == 400, body
        assert "error" in response.json()
    # A refused change changes nothing; reset restores the command line's values.
    assert sim.control.quirks()["applicationResultShape"] == "element-status"
    assert sim.control.quirks()["numericCodePaths"] == []
    sim.control.reset()
    assert sim.control.quirks()["numericPersonIds"] is True


def test_quirks_from_the_command_line() -> None:
    args = ["--quirks", "on", "--no-empty-page-without-list", "--max-persons-per-level-call", "0"]
    with running_simulator(extra_args=args) as sim:
        assert sim.control.quirks() == {
            **ON,
            "emptyPageWithoutList": False,
            "maxPersonsPerLevelCall": 0,
        }
        sim.control.set_quirks(preset="off")
        sim.control.reset()
        assert sim.control.quirks()["emptyStringForNull"] is True
    with running_simulator(quirks="off") as sim:
        assert sim.control.quirks() == OFF


def test_the_control_api_can_be_disabled() -> None:
    with running_simulator(control_api=False) as sim:
        response = httpx.get(sim.base_url + "/simulator/v1/health")
        assert response.json()["code"] == "0x02401000"
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            assert api.ok(VERSION)
        finally:
            api.close()


def test_state_file_round_trip(tmp_path: Path) -> None:
    state_file = tmp_path / "hcp.json"
    with running_simulator(seed_demo=True, state_file=state_file, app_secret="s") as sim:
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            person_id = add_guest(api)
            reapply(api)
            event = sim.control.passage("1", person_code="G0001")
            # A person the devices dropped: elementDownloadDetail lists those doors as applied.
            dropped_id = add_guest(api, "G0009")
            reapply(api)
            api.ok(
                "/api/acs/v1/privilege/group/single/deletePersons",
                {"privilegeGroupId": "1", "type": 1, "list": [{"id": dropped_id}]},
            )
            reapply(api)
            sim.control.add_door("9", "Garage")
            sim.control.advance_clock(600)
            api.call(
                "/api/eventService/v1/eventSubscriptionByEventTypes",
                {"eventTypes": [196893], "eventDest": "http://127.0.0.1:9/x", "token": "t"},
            )
            before = sim.control.state()
        finally:
            api.close()
    assert state_file.exists()
    with running_simulator(state_file=state_file, app_secret="s") as sim:
        after = sim.control.state()
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            assert after["persons"] == before["persons"]
            assert after["accessLevels"] == before["accessLevels"]
            assert [d["doorIndexCode"] for d in after["doors"]] == ["1", "2", "3", "4", "9"]
            assert after["subscriptions"] == before["subscriptions"]
            assert after["clockOffsetSeconds"] == pytest.approx(600)
            assert [e["eventId"] for e in after["events"]] == [event.event_id]
            picture = api.raw("/api/acs/v1/event/pictures", {"picUri": event.pic_uri})
            assert picture.headers["content-type"] == "image/jpeg"
            assert sim.control.passage("2", person_id=person_id).granted
            detail = api.ok(
                f"/api/visitor/v1/person/{dropped_id}/elementDownloadDetail", {"id": dropped_id}
            )
            assert [
                item["ElementStatus"][0]["elementStatus"]
                for item in detail["ElementDetailList"]["ElementDetail"]
            ] == [0, 0]
            # Short personIds go on from where they were, never reused.
            assert api.ok(ADD, person("G0002")) == str(int(dropped_id) + 1)
        finally:
            api.close()


def test_a_broken_state_file_stops_the_start(tmp_path: Path) -> None:
    state_file = tmp_path / "broken.json"
    state_file.write_text("{not json")
    with pytest.raises(RuntimeError, match="state file"), running_simulator(state_file=state_file):
        pass


def test_tls_with_a_generated_certificate() -> None:
    with running_simulator(tls=True, seed_demo=True) as sim:
        assert sim.base_url.startswith("https://127.0.0.1:")
        assert sim.ca_cert_path is not None
        assert sim.ca_cert_path.read_text().startswith("-----BEGIN CERTIFICATE-----")
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret, verify=sim.verify)
        try:
            assert api.ok(VERSION)
            assert sim.control.passage("1", unknown_face=True).reason == "face_not_matched"
        finally:
            api.close()
        with pytest.raises(httpx.ConnectError):
            httpx.post(sim.base_url + "/artemis" + VERSION, content=b"{}")
        localhost = sim.base_url.replace("127.0.0.1", "localhost")
        assert httpx.get(localhost + "/simulator/v1/health", verify=sim.verify).status_code == 200
