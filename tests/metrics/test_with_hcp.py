"""The metrics of a visit's whole way through the real access engine and events intake,
against the HCP simulator over HTTP: a person waiting for the devices, the revocation
unconfirmed then confirmed with its time to revoke, a face nobody recognised at the
turnstile, the polling backfill's cursor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from propusk.access.reconciler import ReconcileResult
from propusk.events.models import EventState, HcpEvent
from propusk.events.polling import poll
from propusk.events.processing import process
from propusk.visits.models import Visit
from tests.access.conftest import (  # noqa: F401 - fixtures
    desk,
    drain,
    hcp,
    hcp_settings,
    register,
    site,
    start_simulator,
)
from tests.metrics.conftest import Scrape

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

APPLY_DELAY = 1.0
ENTRANCE = "1"

Drain = Callable[..., ReconcileResult]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    yield from start_simulator(apply_delay=APPLY_DELAY)


def devices_catch_up(site: SimulatorHandle) -> datetime:  # noqa: F811
    """Simulator time moves past the application delay; the next check is due (our time)."""
    site.control.advance_clock(APPLY_DELAY + 1)
    return timezone.now() + timedelta(seconds=3)


def scrape_at(scrape: Callable[[], Scrape], moment: datetime) -> Scrape:
    with time_machine.travel(moment, tick=False):
        return scrape()


def test_revocation_through_hcp(
    site: SimulatorHandle,  # noqa: F811
    register: Callable[..., Visit],  # noqa: F811
    drain: Drain,  # noqa: F811
    desk: Client,  # noqa: F811
    scrape: Callable[[], Scrape],
) -> None:
    visit = register(family_name="Ахметов", given_name="Нурлан")
    assert scrape().value("propusk_access_work_pending", priority="grant") == 1
    drain()
    waiting = scrape()
    assert waiting.value("propusk_access_persons_waiting_for_devices") == 1
    assert waiting.value("propusk_access_work_pending", priority="grant") == 0
    assert waiting.value("propusk_access_last_confirmed_timestamp_seconds") > 0
    drain(now=devices_catch_up(site))
    assert scrape().value("propusk_access_persons_waiting_for_devices") == 0

    desk.post(reverse("visits:cancel", args=[visit.pk]))
    drain()  # HCP took the change; the devices have not applied it yet
    visit.refresh_from_db()
    assert visit.access_should_end_at is not None
    asked = scrape()
    assert asked.value("propusk_access_revocations_unconfirmed") == 1
    assert asked.value("propusk_access_persons_waiting_for_devices") == 1
    assert asked.value("propusk_access_revocations_confirmed", window="1h") == 0

    later = devices_catch_up(site)
    drain(now=later)
    visit.refresh_from_db()
    assert visit.access_revoked_at == later
    seconds = (visit.access_revoked_at - visit.access_should_end_at).total_seconds()

    done = scrape_at(scrape, later + timedelta(seconds=1))
    assert done.value("propusk_access_revocations_unconfirmed") == 0
    assert done.value("propusk_access_revocations_overdue") == 0
    assert done.value("propusk_access_revocations_confirmed", window="1h") == 1
    assert done.value("propusk_access_time_to_revoke_max_seconds", window="1h") == pytest.approx(
        seconds
    )
    for le in (1, 2, 5, 10, 30, 60, 300):
        assert done.value(
            "propusk_access_revocations_confirmed_within_seconds", window="1h", le=f"{le}"
        ) == int(seconds <= le)
    assert "Ахметов" not in done.text


def test_a_face_nobody_recognised_read_back_by_polling(
    site: SimulatorHandle,  # noqa: F811
    hcp,  # noqa: F811
    scrape: Callable[[], Scrape],
) -> None:
    before = scrape()
    assert before.value("propusk_hcp_events_poll_last_success_timestamp_seconds") == 0
    site.control.passage(ENTRANCE, unknown_face=True, direction="in")

    poll(hcp)
    polled = scrape()
    assert polled.value("propusk_hcp_events_pending") == 1
    assert polled.value("propusk_hcp_events_poll_last_success_timestamp_seconds") > 0
    assert polled.value("propusk_hcp_events_poll_failing") == 0
    assert polled.value("propusk_hcp_events_last_received_timestamp_seconds") > 0
    assert polled.value("propusk_hcp_events_last_push_timestamp_seconds") == 0  # polled

    for pk in HcpEvent.objects.filter(state=EventState.PENDING).values_list("pk", flat=True):
        process(pk)
    handled = scrape()
    assert handled.value("propusk_hcp_events_pending") == 0
    assert handled.value("propusk_incidents", kind="face_not_recognised", state="open") == 1
