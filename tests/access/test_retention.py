"""Cleanup after the retention, against the real HCP simulator over HTTP: a revoked person is
deleted from HCP with its face once ``PROPUSK_ACCESS_RETENTION_HOURS`` have passed (and its
revocation is on the devices), and created again when the visitor returns. This module's
simulator asks for ``adminPassword`` on person delete, as newer HCP versions do. Time moves
through the reconciler's ``now`` and the simulator's clock (the HCP client signs with real
time, which the simulator checks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from propusk.access.models import AccessWork, ApplyState, HcpPerson, WorkPriority, WorkState
from propusk.access.reconciler import ReconcileResult, reconcile_due_work
from propusk.integrations.hikcentral.factory import build_client
from propusk.visits.models import Visit
from tests.factories import make_iin

from .conftest import ENTRANCE, GUEST_LEVEL, hcp_person, start_simulator
from .test_reconciler import assert_no_personal_data, engine_entries

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]
ADMIN_PASSWORD = "Adm1n-Passw0rd"
DELETE = "/api/resource/v1/person/single/delete"
RETENTION = timedelta(hours=4)


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    yield from start_simulator(admin_password=ADMIN_PASSWORD)


@pytest.fixture
def hcp_settings(hcp_settings: Any) -> Any:
    hcp_settings.HCP_ADMIN_PASSWORD = ADMIN_PASSWORD
    return hcp_settings


def revoked_visitor(
    register: Register, drain: Drain, confirm: Drain, desk: Client, *, national_id: str = ""
) -> tuple[Visit, datetime]:
    """A visitor enrolled, then cancelled: revoked in HCP, the revocation on the devices.
    Returns the visit and when HCP revoked it."""
    visit = register(national_id=national_id)
    drain()
    desk.post(reverse("visits:cancel", args=[visit.pk]))
    drain()
    confirm()
    confirmed = HcpPerson.objects.get(person_code=visit.visitor.person_code)
    assert confirmed.apply_state == ApplyState.APPLIED
    assert confirmed.revoked_at is not None
    return visit, confirmed.revoked_at


def persons(site: SimulatorHandle) -> list[dict[str, Any]]:
    return [p for p in site.control.state()["persons"] if not p.get("deleted")]


def test_a_revoked_person_is_deleted_with_its_face_after_the_retention_and_made_again_on_return(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, desk: Client
) -> None:
    iin = make_iin()
    visit, revoked_at = revoked_visitor(register, drain, confirm, desk, national_id=iin)
    code = visit.visitor.person_code
    person_id = hcp_person(site, code)["personId"]

    almost = revoked_at + RETENTION - timedelta(minutes=1)
    drain(now=almost)
    assert hcp_person(site, code)["personId"] == person_id  # kept during the retention

    later = revoked_at + RETENTION + timedelta(minutes=1)
    site.control.set_clock(later)
    result = drain(now=later)

    assert result.reconciled == 1
    assert persons(site) == []
    assert not AccessWork.objects.filter(person_code=code).exists()
    record = HcpPerson.objects.get(person_code=code)
    assert (record.person_id, record.face_version, record.access_level_ids) == ("", "", [])
    assert (record.revoked_at, record.deleted_at, record.add_sent_at) == (None, later, None)
    deleted = engine_entries("hcp.person_deleted")
    assert [(e.target_type, e.target_id) for e in deleted] == [
        ("visitors.visitor", str(visit.visitor_id))
    ]
    assert deleted[0].changes == {
        "sent": {"person_code": code, "person_id": person_id},
        "answer": {"person_id": person_id},
    }
    assert_no_personal_data("Nurlanova", "Aigerim", "701", "jpg", ADMIN_PASSWORD)

    # The visitor comes back: a new visit enrols them again, face and access.
    start = (later + timedelta(minutes=30)).replace(second=0, microsecond=0)
    again = register(national_id=iin, start=start, minutes=60)
    assert again.visitor_id == visit.visitor_id
    drain(now=later)

    person = hcp_person(site, code)
    assert person["personId"] != person_id
    assert (person["hasFace"], person["accessLevels"]) == (True, [GUEST_LEVEL])
    assert site.control.passage(ENTRANCE, person_code=code, at=start + timedelta(minutes=5)).granted
    assert HcpPerson.objects.get(person_code=code).deleted_at is None
    assert len(engine_entries("hcp.person_added")) == 2


def test_a_visitor_back_within_the_retention_keeps_the_person(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, desk: Client
) -> None:
    iin = make_iin()
    visit, revoked_at = revoked_visitor(register, drain, confirm, desk, national_id=iin)
    code = visit.visitor.person_code
    person_id = hcp_person(site, code)["personId"]
    # Back the same day, until after the retention.
    start = (timezone.now() + timedelta(minutes=1)).replace(second=0, microsecond=0)
    register(national_id=iin, start=start, minutes=600)
    drain()

    later = revoked_at + RETENTION + timedelta(minutes=1)
    drain(now=later)

    assert hcp_person(site, code)["personId"] == person_id
    assert not engine_entries("hcp.person_deleted")
    assert HcpPerson.objects.get(person_code=code).revoked_at is None


def test_a_revocation_not_yet_on_the_devices_is_confirmed_before_the_person_goes(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    desk.post(reverse("visits:cancel", args=[visit.pk]))
    drain()  # revoked; HCP not yet asked whether the devices have it
    record = HcpPerson.objects.get(person_code=code)
    assert record.apply_state == ApplyState.WAITING
    assert record.revoked_at is not None
    later = record.revoked_at + RETENTION + timedelta(minutes=1)

    drain(now=later)  # the run confirms the revocation on the devices...
    assert hcp_person(site, code)["accessLevels"] == []
    assert HcpPerson.objects.get(person_code=code).apply_state == ApplyState.APPLIED

    drain(now=later)  # ...and the next deletes the person
    assert persons(site) == []


def test_the_sweep_queues_the_deletion_with_sync_priority(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    desk: Client,
    settings: Any,
) -> None:
    from propusk.access.reconciler import queue_retention_cleanup

    visit, revoked_at = revoked_visitor(register, drain, confirm, desk)
    code = visit.visitor.person_code
    settings.PROPUSK_ACCESS_RETENTION_HOURS = 1.0
    later = revoked_at + timedelta(hours=1, seconds=1)

    assert queue_retention_cleanup(now=later - timedelta(seconds=2)) == 0
    assert queue_retention_cleanup(now=later) == 1
    assert queue_retention_cleanup(now=later) == 0  # queued once

    work = AccessWork.objects.get(person_code=code)
    assert (work.priority, work.reasons, work.due_at) == (
        WorkPriority.SYNC,
        ["retention over"],
        later,
    )
    drain(now=later)
    assert persons(site) == []


def test_a_lost_answer_to_delete_is_looked_up(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, desk: Client
) -> None:
    visit, revoked_at = revoked_visitor(register, drain, confirm, desk)
    code = visit.visitor.person_code
    site.control.add_fault("lost_response", path=DELETE, count=1)
    later = revoked_at + RETENTION + timedelta(minutes=1)

    result = drain(now=later)

    assert (result.reconciled, result.retried, result.failed) == (1, 0, 0)
    assert persons(site) == []
    answer = engine_entries("hcp.person_deleted")[0].changes["answer"]
    assert answer["answer_lost"] is True
    assert HcpPerson.objects.get(person_code=code).person_id == ""


def test_a_lost_answer_to_delete_with_the_person_still_there_is_retried(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, desk: Client
) -> None:
    visit, revoked_at = revoked_visitor(register, drain, confirm, desk)
    code = visit.visitor.person_code
    # HCP answers 503 without deleting (the answer may have been lost): the look-up finds
    # the person, so the deletion is retried later.
    site.control.add_fault("http", path=DELETE, status=503, count=1)
    later = revoked_at + RETENTION + timedelta(minutes=1)

    assert drain(now=later).retried == 1

    hcp_person(site, code)
    work = AccessWork.objects.get(person_code=code)
    assert (work.state, work.attempts) == (WorkState.PENDING, 1)
    drain(now=work.due_at)
    assert persons(site) == []


def test_a_refused_admin_password_fails_the_deletion_until_someone_acts(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    desk: Client,
    hcp_settings: Any,
) -> None:
    visit, revoked_at = revoked_visitor(register, drain, confirm, desk)
    code = visit.visitor.person_code
    hcp_settings.HCP_ADMIN_PASSWORD = "not-the-password"
    later = revoked_at + RETENTION + timedelta(minutes=1)

    with build_client() as client:
        assert reconcile_due_work(client=client, now=later).failed == 1

    work = AccessWork.objects.get(person_code=code)
    assert (work.state, work.last_error_code, work.retries_by_itself) == (
        WorkState.FAILED,
        "2",
        False,
    )
    assert "adminPassword" in work.last_error_message
    assert "not-the-password" not in work.last_error_message
    with build_client() as client:  # not retried by itself
        assert reconcile_due_work(client=client, now=later + timedelta(days=1)).failed == 0
    hcp_person(site, code)  # still there
    assert len(engine_entries("hcp.work_failed")) == 1


def test_the_retention_setting_is_four_hours_by_default(settings: Any) -> None:
    assert settings.PROPUSK_ACCESS_RETENTION_HOURS == 4.0
