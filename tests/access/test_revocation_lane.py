"""The revocation lane (reconciler.RevocationLane): a thread beside a run's batch of grants takes
a revocation and confirms it on the devices while the batch still works - against the simulator
over HTTP, with grants made slow the way a burst makes them (a call waiting for its share of
HCP's quota). Without the lane the revocation waits for the batch to give way between persons,
and its confirmation for the batch's end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient
from propusk.access import reconciler
from propusk.access.models import AccessWork, HcpPerson
from propusk.access.reconciler import RevocationLane, reconcile_due_work
from propusk.integrations.hikcentral.factory import build_config
from propusk.visits.models import Visit

from .conftest import ENTRANCE, start_simulator

# The lane's thread has a database connection of its own: it sees committed rows only.
pytestmark = [
    pytest.mark.simulator,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

APPLY_DELAY = 0.5
SLOW_ADD = 0.8  # seconds each grant's add takes (a burst's wait for the quota)
GRANTS = 4

Register = Callable[..., Visit]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    yield from start_simulator(apply_delay=APPLY_DELAY)


@pytest.fixture
def quick_checks(hcp_settings: Any) -> Any:
    hcp_settings.PROPUSK_ACCESS_APPLY_CHECK_SECONDS = APPLY_DELAY
    return hcp_settings


def _on_the_doors(site: SimulatorHandle, register: Register, desk: Any) -> Visit:
    """A guest whose access is on the doors already."""
    visit = register(family_name="Seitkali", given_name="Yerlan")
    with HikCentralClient(build_config()) as client:
        reconcile_due_work(client=client, linger=5 * APPLY_DELAY)
    site.control.advance_clock(APPLY_DELAY + 1)  # the devices catch up
    assert site.control.passage(ENTRANCE, person_code=visit.visitor.person_code).granted
    return visit


@pytest.mark.parametrize("lane", [True, False], ids=["lane", "no-lane"])
def test_a_revocation_is_taken_and_confirmed_while_a_batch_of_grants_works(
    site: SimulatorHandle, register: Register, desk: Any, quick_checks: Any, lane: bool
) -> None:
    quick_checks.PROPUSK_ACCESS_REVOCATION_LANE = lane
    leaving = _on_the_doors(site, register, desk)
    code = leaving.visitor.person_code
    arriving = [
        register(family_name=name, given_name="Aruzhan")
        for name in ("Abenova", "Bekova", "Dauletova", "Zhakupova")[:GRANTS]
    ]
    assert AccessWork.objects.filter(due_at__lte=timezone.now()).count() == GRANTS
    events: list[tuple[float, str, str]] = []
    lock = threading.Lock()

    def observer(path: str, data: object) -> None:
        with lock:
            events.append((time.monotonic(), threading.current_thread().name, path))
        if path.endswith("/person/single/add"):
            if sum(1 for _, _, seen in events if seen.endswith("/person/single/add")) == 1:
                # The guest leaves while the first new visitor is being added.
                response = desk.post(reverse("visits:cancel", args=[leaving.pk]))
                assert response.status_code == 302
            time.sleep(SLOW_ADD)

    with HikCentralClient(build_config(), response_observer=observer) as client:
        result = reconcile_due_work(client=client, linger=5 * APPLY_DELAY)

    leaving.refresh_from_db()
    assert leaving.access_revoked_at is not None  # confirmed on the devices, in this run
    assert not site.control.passage(ENTRANCE, person_code=code).granted
    site.control.advance_clock(APPLY_DELAY + 1)  # the grants' devices catch up
    for visit in arriving:  # the grants were not held up or lost
        assert site.control.passage(ENTRANCE, person_code=visit.visitor.person_code).granted
    assert result.reconciled == GRANTS + 2  # the revocation, then its validity end

    person_id = HcpPerson.objects.get(person_code=code).person_id
    revoke_calls = [(at, thread) for at, thread, path in events if path.endswith("/deletePersons")]
    confirmed = [
        (at, thread)
        for at, thread, path in events
        if path.endswith(f"/person/{person_id}/elementDownloadDetail")
    ]
    grants_reapplied = max(at for at, _, path in events if path.endswith("/auth/reapplication"))
    first_add_ended = min(at for at, _, path in events if path.endswith("/single/add")) + SLOW_ADD
    if lane:
        # Taken during the add that was under way when the guest left, by the lane.
        assert [thread for _, thread in revoke_calls] == [RevocationLane.TAKER]
        assert revoke_calls[0][0] < first_add_ended
        # And confirmed while the batch of grants still worked (before its reapplication).
        assert confirmed
        assert confirmed[-1][1] == RevocationLane.LOOKER
        assert confirmed[-1][0] < grants_reapplied
    else:
        # The batch gives way after that person: the revocation is taken then.
        assert revoke_calls[0][0] > first_add_ended
        lanes = {RevocationLane.TAKER, RevocationLane.LOOKER}
        assert all(thread not in lanes for _, thread in revoke_calls + confirmed)
    assert leaving.access_revoked_at is not None


def test_an_error_in_the_lane_is_raised_by_the_run_and_its_leases_are_given_back(
    site: SimulatorHandle,
    register: Register,
    desk: Any,
    quick_checks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick_checks.PROPUSK_ACCESS_REVOCATION_LANE = True
    leaving = _on_the_doors(site, register, desk)
    register(family_name="Abenova", given_name="Aruzhan")
    real_batch = reconciler._reconcile_batch

    def batch(hcp: HikCentralClient, claims: Any, **kwargs: Any) -> int:
        if threading.current_thread().name == RevocationLane.TAKER:
            raise DatabaseError("the database went away")
        return real_batch(hcp, claims, **kwargs)

    def observer(path: str, data: object) -> None:
        if path.endswith("/person/single/add"):
            desk.post(reverse("visits:cancel", args=[leaving.pk]))
            time.sleep(SLOW_ADD)

    monkeypatch.setattr(reconciler, "_reconcile_batch", batch)
    with (
        HikCentralClient(build_config(), response_observer=observer) as client,
        pytest.raises(DatabaseError, match="went away"),
    ):
        reconcile_due_work(client=client, linger=5 * APPLY_DELAY)

    # Nothing is left leased: the revocation is done by the run, or due for the next one.
    assert not AccessWork.objects.exclude(lease_token="").exists()
    leaving.refresh_from_db()
    assert (
        leaving.access_revoked_at is not None
        or AccessWork.objects.filter(person_code=leaving.visitor.person_code).exists()
    )
