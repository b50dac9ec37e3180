"""`visitor/v1/person/{id}/elementDownloadDetail`: one person's status on each door's device
(the visitor module's documented per-device answer), its id in the path."""

from __future__ import annotations

import pytest

from hcp_simulator.testing import SimulatorHandle

from .artemis import Artemis
from .test_devices import DELETE_MEMBERS, add_guest, reapply
from .test_persons import assert_bad_parameter

pytestmark = pytest.mark.simulator


def detail_path(person_id: str) -> str:
    return f"/api/visitor/v1/person/{person_id}/elementDownloadDetail"


def statuses(api: Artemis, person_id: str) -> dict[str, int]:
    data = api.ok(detail_path(person_id), {"id": person_id})
    return {
        item["doorIndexCode"]: item["ElementStatus"][0]["elementStatus"]
        for item in data["ElementDetailList"]["ElementDetail"]
    }


def test_pending_applied_then_dropped_per_door(sim: SimulatorHandle, api: Artemis) -> None:
    person_id = add_guest(api, "G0101")  # level 1: doors 1 and 2 of the demo site
    assert statuses(api, person_id) == {"1": 1, "2": 1}  # waiting for a reapplication
    reapply(api, personIds=person_id)
    assert statuses(api, person_id) == {"1": 0, "2": 0}

    api.ok(DELETE_MEMBERS, {"privilegeGroupId": "1", "type": 1, "list": [{"id": person_id}]})
    assert statuses(api, person_id) == {"1": 1, "2": 1}  # the devices still hold the person
    reapply(api, personIds=person_id)
    # Dropped by the devices: listed as applied, not left out.
    assert statuses(api, person_id) == {"1": 0, "2": 0}
    assert not sim.control.passage("1", person_code="G0101").granted


def test_an_offline_door_is_failed(sim: SimulatorHandle, api: Artemis) -> None:
    sim.control.add_fault("door_offline", doorIndexCode="2")
    person_id = add_guest(api, "G0102")
    reapply(api, personIds=person_id)
    assert statuses(api, person_id) == {"1": 0, "2": 2}


def test_refusals(sim: SimulatorHandle, api: Artemis) -> None:
    person_id = add_guest(api, "G0103")
    assert_bad_parameter(api.call(detail_path(person_id), {"id": "77"}), "id")
    assert api.call(detail_path("404404"), {"id": "404404"})["code"] == "128"
    sim.control.set_quirks(element_detail_refused=True)
    assert api.call(detail_path(person_id), {"id": person_id})["code"] == "128"
    # What a server offers is not an answer shape: a preset keeps it.
    assert sim.control.set_quirks(preset="off")["elementDetailRefused"] is True
    sim.control.set_quirks(element_detail_refused=False)
    assert statuses(api, person_id) == {"1": 1, "2": 1}
