"""Failed work, and what the reconciler remembers between runs, against the real HCP simulator
over HTTP: failures that may clear by themselves (the organisation missing, HCP full) are tried
again every ``PROPUSK_ACCESS_FAILED_RETRY_MINUTES``, failures that need someone stay failed;
the organisation and the door list are kept between runs and read again when HCP's answers say
they changed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient, PersonInput
from propusk.access.models import AccessWork, HcpPerson, WorkState
from propusk.access.reconciler import ReconcileResult, reconcile_due_work
from propusk.integrations.hikcentral.factory import build_config
from propusk.visits.models import Visit

from .conftest import ENTRANCE, GUEST_LEVEL, ORG_NAME, STAFF_ORG, hcp_person
from .test_reconciler import CountingLimiter, engine_entries

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]
RETRY = timedelta(minutes=15)
PERSON_ADD = "/api/resource/v1/person/single/add"


# --- failures that clear by themselves -----------------------------------------------------


def test_a_missing_organisation_is_tried_again_every_quarter_hour_until_it_exists(
    site: SimulatorHandle, register: Register, drain: Drain, settings: Any
) -> None:
    settings.HCP_ORG_NAME = "Guests of the rector"
    visit = register(minutes=120)
    code = visit.visitor.person_code
    moment = timezone.now()

    assert drain(now=moment).failed == 1
    work = AccessWork.objects.get(person_code=code)
    assert (work.state, work.last_error_code, work.retries_by_itself) == (
        WorkState.FAILED,
        "org_missing",
        True,
    )
    assert work.due_at == moment + RETRY

    assert drain(now=moment + RETRY - timedelta(seconds=1)).failed == 0  # not due yet
    assert drain(now=moment + RETRY).failed == 1  # tried again: still missing
    work.refresh_from_db()
    assert (work.state, work.due_at) == (WorkState.FAILED, moment + 2 * RETRY)
    assert len(engine_entries("hcp.work_failed")) == 1  # audited when it first failed

    site.control.add_org("9", "Guests of the rector")  # someone creates it in HCP
    result = drain(now=moment + 2 * RETRY)

    assert (result.reconciled, result.failed) == (1, 0)
    assert hcp_person(site, code)["orgIndexCode"] == "9"
    assert site.control.passage(ENTRANCE, person_code=code).granted
    work.refresh_from_db()
    assert (work.state, work.retries_by_itself, work.last_error_code) == (
        WorkState.PENDING,
        False,
        "",
    )


def test_hcp_full_is_tried_again_on_the_slow_schedule(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    visit = register()
    site.control.add_fault(
        "code",
        path=PERSON_ADD,
        count=1,
        code="132",
        msg="The maximum number of resources is reached.",
    )
    moment = timezone.now()
    drain(now=moment)
    work = AccessWork.objects.get(person_code=visit.visitor.person_code)
    assert (work.state, work.retries_by_itself) == (WorkState.FAILED, True)

    drain(now=moment + RETRY)

    assert site.control.passage(ENTRANCE, person_code=visit.visitor.person_code).granted


def test_failures_that_need_someone_stay_failed(
    site: SimulatorHandle, register: Register, drain: Drain, hcp: HikCentralClient
) -> None:
    visit = register()
    code = visit.visitor.person_code
    now = datetime.now(UTC).replace(microsecond=0)
    # Someone made a person with our visitor's code by hand, in the staff organisation.
    hcp.add_person(
        PersonInput(
            person_code=code,
            org_index_code=STAFF_ORG,
            family_name="Bekova",
            given_name="Dana",
            begin_time=now,
            end_time=now + timedelta(days=30),
        )
    )
    moment = timezone.now()
    assert drain(now=moment).failed == 1

    for later in (moment + RETRY, moment + timedelta(days=1)):
        assert drain(now=later).failed == 0
    work = AccessWork.objects.get(person_code=code)
    assert (work.state, work.last_error_code, work.retries_by_itself) == (
        WorkState.FAILED,
        "not_ours",
        False,
    )
    assert len(engine_entries("hcp.work_failed")) == 1


# --- what a process remembers -----------------------------------------------------------


def test_an_organisation_made_again_under_a_new_code_is_found_again(
    site: SimulatorHandle, register: Register, drain: Drain, hcp_settings: Any
) -> None:
    register(family_name="Akhmetova")
    drain()  # remembers our organisation: "2"
    # HCP rebuilt: our organisation is now "7"; HCP refuses an add naming "2".
    site.control.reset()
    site.control.add_org("7", ORG_NAME)
    second = register(family_name="Seitkali")
    hcp_settings.PROPUSK_ACCESS_APPLY_CHECK_SECONDS = 3600  # calls counted: no look at devices
    limiter = CountingLimiter()
    with HikCentralClient(build_config(), rate_limiter=limiter) as client:
        result = reconcile_due_work(client=client)

    assert (result.reconciled, result.failed) == (1, 0)
    assert hcp_person(site, second.visitor.person_code)["orgIndexCode"] == "7"
    assert site.control.passage(ENTRANCE, person_code=second.visitor.person_code).granted
    # add (refused: organisation 2 unknown), the organisation read again, add, addPersons,
    # reapplication (the doors are the same)
    assert len(limiter.priorities) == 5


def test_a_door_list_that_changed_is_read_again(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    register(family_name="Akhmetova")
    drain()  # remembers doors 1-4
    # HCP's doors are replaced: the guests' level now opens door 11 alone.
    site.control.reset(seed_demo=False)
    site.control.add_org("2", ORG_NAME)
    site.control.add_door("11", "New main entrance")
    site.control.add_access_level(GUEST_LEVEL, "Guests", ["11"])
    visit = register(family_name="Seitkali")

    assert drain().reconciled == 1

    assert site.control.passage("11", person_code=visit.visitor.person_code).granted
    assert HcpPerson.objects.get(person_code=visit.visitor.person_code).needs_reapply is False


def test_the_organisation_and_doors_are_read_again_after_their_time_to_live(
    site: SimulatorHandle, register: Register, hcp_settings: Any
) -> None:
    hcp_settings.PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS = 0.05
    limiter = CountingLimiter()
    with HikCentralClient(build_config(), rate_limiter=limiter) as client:
        register(family_name="Akhmetova")
        reconcile_due_work(client=client)
        # the organisation, add, addPersons, the doors, reapplication
        assert len(limiter.priorities) == 5
        limiter.priorities.clear()
        register(family_name="Seitkali")
        time.sleep(0.1)
        reconcile_due_work(client=client)
    assert len(limiter.priorities) == 5  # both read again
