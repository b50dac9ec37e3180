"""HikCentralClient.person_application (the visitor module's elementDownloadDetail) against
the simulator over HTTP, and reading its answers of any shape.

A person's own status on each device: applied, pending or failed, whatever shape
applicationResult has. HCP may serve it only for the visitor module's persons: a refusal is
None (ask applicationResult instead), never a guess; an answer listing nothing says nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hcp_simulator.testing import SimulatorHandle, running_simulator
from hikcentral import ApplicationOutcome, HCPServerError, HikCentralClient, PersonApplication

from .conftest import MAIN_LEVEL, CountingLimiter, make_config, make_jpeg, seed_site, visitor

pytestmark = pytest.mark.simulator

DETAIL = "/api/visitor/v1/person/*/elementDownloadDetail"
APPLY_DELAY = 30.0  # simulator seconds: a reapplication stays "being applied" until advanced


@pytest.fixture(scope="module")
def slow_simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(apply_delay=APPLY_DELAY) as sim:
        yield sim


@pytest.fixture
def slow_site(slow_simulator: SimulatorHandle) -> SimulatorHandle:
    seed_site(slow_simulator)
    return slow_simulator


@pytest.fixture
def slow_client(slow_site: SimulatorHandle) -> Iterator[HikCentralClient]:
    with HikCentralClient(make_config(slow_site), rate_limiter=CountingLimiter()) as hcp:
        yield hcp


def test_pending_then_applied_per_door(slow_client, slow_site):
    person_id = slow_client.add_person(
        visitor("K0001", family_name="Жумабаев", given_name="Ерлан"), face_jpeg=make_jpeg()
    )
    slow_client.add_persons_to_access_level(MAIN_LEVEL, [person_id])
    before = slow_client.person_application(person_id)
    assert before is not None
    assert (before.pending, before.applied, before.outcome) == (2, 0, ApplicationOutcome.PENDING)

    slow_client.reapply(person_ids=[person_id], door_index_codes=["1", "2"])
    assert slow_client.person_application(person_id).outcome is ApplicationOutcome.PENDING
    slow_site.control.advance_clock(APPLY_DELAY + 1)
    after = slow_client.person_application(person_id)
    assert (after.applied, after.pending, after.failed) == (2, 0, 0)
    assert after.outcome is ApplicationOutcome.APPLIED
    assert slow_site.control.passage("1", person_code="K0001").granted


def test_a_revocation_is_pending_until_the_devices_dropped_the_person(slow_client, slow_site):
    person_id = slow_client.add_person(visitor("K0002"), face_jpeg=make_jpeg())
    slow_client.add_persons_to_access_level(MAIN_LEVEL, [person_id])
    slow_client.reapply(person_ids=[person_id], door_index_codes=["1", "2"])
    slow_site.control.advance_clock(APPLY_DELAY + 1)

    slow_client.delete_persons_from_access_level(MAIN_LEVEL, [person_id])
    slow_client.reapply(person_ids=[person_id], door_index_codes=["1", "2"])
    # Other persons' changes do not matter: the answer is this person's.
    other_id = slow_client.add_person(visitor("K0003"), face_jpeg=make_jpeg())
    slow_client.add_persons_to_access_level(MAIN_LEVEL, [other_id])
    assert slow_client.person_application(person_id).outcome is ApplicationOutcome.PENDING
    assert slow_site.control.passage("1", person_code="K0002").granted  # not dropped yet

    slow_site.control.advance_clock(APPLY_DELAY + 1)
    dropped = slow_client.person_application(person_id)
    # The doors that dropped the person are listed as applied, not left out.
    assert (dropped.applied, dropped.pending, dropped.outcome) == (
        2,
        0,
        ApplicationOutcome.APPLIED,
    )
    assert not slow_site.control.passage("1", person_code="K0002").granted
    assert slow_client.person_application(other_id).outcome is ApplicationOutcome.PENDING


def test_a_failure_names_the_door(client, site):
    site.control.add_fault("door_offline", doorIndexCode="2")
    person_id = client.add_person(visitor("K0004"), face_jpeg=make_jpeg())
    client.add_persons_to_access_level(MAIN_LEVEL, [person_id])
    client.reapply(person_ids=[person_id], door_index_codes=["1", "2"])
    answer = client.person_application(person_id)
    assert (answer.applied, answer.failed, answer.failed_doors) == (1, 1, ("2",))
    assert answer.outcome is ApplicationOutcome.FAILED


def test_refused_for_our_persons_is_none(client, site, limiter):
    person_id = client.add_person(visitor("K0005"), face_jpeg=make_jpeg())
    site.control.set_quirks(element_detail_refused=True)
    assert client.person_application(person_id) is None
    # A person HCP does not know is refused the same way.
    site.control.set_quirks(element_detail_refused=False)
    assert client.person_application("999999") is None
    assert client.person_application(person_id) is not None


def test_not_supported_is_none(client, site):
    person_id = client.add_person(visitor("K0006"))
    site.control.add_fault("code", path=DETAIL, count=1, code="8", msg="API not found.")
    assert client.person_application(person_id) is None


def test_a_transient_error_raises(client, site):
    person_id = client.add_person(visitor("K0007"))
    site.control.add_fault("http", path=DETAIL, count=5, status=500)
    with pytest.raises(HCPServerError):
        client.person_application(person_id)


# --- reading answers ----------------------------------------------------------------------


def element(status: object, **extra: object) -> dict[str, object]:
    return {"doorIndexCode": "1", "ElementStatus": [{"elementStatus": status}], **extra}


def test_an_answer_listing_nothing_says_nothing():
    answer = PersonApplication.from_api("7", {"ElementDetailList": {"ElementDetail": []}})
    assert answer.known
    assert answer.outcome is ApplicationOutcome.UNKNOWN


def test_statuses_decide_failed_then_pending_then_applied():
    def outcome(*statuses: object) -> ApplicationOutcome:
        data = {"ElementDetailList": {"ElementDetail": [element(s) for s in statuses]}}
        return PersonApplication.from_api("7", data).outcome

    assert outcome(0, 0) is ApplicationOutcome.APPLIED
    assert outcome("0", 1) is ApplicationOutcome.PENDING
    assert outcome(0, 1, 2) is ApplicationOutcome.FAILED
    assert outcome(0, 3) is ApplicationOutcome.UNKNOWN  # a status we cannot read
    assert outcome(0, None) is ApplicationOutcome.UNKNOWN


def test_a_rejected_face_certificate_is_read():
    certificates = {
        "CertificateStatus": [
            {"type": 1, "status": 2, "errorMsg": "card"},
            {"type": 2, "status": 2, "errorMsg": "Face quality too low"},
        ]
    }
    data = {
        "ElementDetailList": {"ElementDetail": [element(2, CertificateStatusList=certificates)]}
    }
    answer = PersonApplication.from_api("7", data)
    assert answer.face_error == "Face quality too low"
    assert answer.failed_doors == ("1",)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=25,
)


@settings(max_examples=50)
@given(json_values)
def test_any_answer_is_read_without_failing(data):
    answer = PersonApplication.from_api("7", data)
    assert answer.known or answer.outcome is ApplicationOutcome.UNKNOWN
