"""The engine under load and through an outage, against the simulator over real HTTP: a
revocation never waits for grants (it has a batch of its own, and one that comes due while a
batch of grants runs goes next), and an HCP outage piles up no backoff - the circuit
breaker's refusals count no attempt, and the first answer after the outage makes every person
waiting on HCP due at once and wakes a worker. What these cost in time is measured by
bench/revoke_latency.py and bench/outage.py (docs/access-engine.md, Benchmarks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient
from propusk.access import reconciler
from propusk.access.models import AccessWork, WorkPriority, WorkState
from propusk.access.reconciler import ReconcileResult, reconcile_due_work
from propusk.audit.models import AuditEntry
from propusk.integrations.hikcentral.factory import build_config
from propusk.visits.models import Visit

from .conftest import ENTRANCE, GUEST_LEVEL, hcp_person

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]

ADD = "/api/resource/v1/person/single/add"
LOOK_UP = "/api/resource/v1/person/personCode/personInfo"
UPDATE = "/api/resource/v1/person/single/update"
REMOVE = "/api/acs/v1/privilege/group/single/deletePersons"
REAPPLY = "/api/visitor/v1/auth/reapplication"


def test_a_revocation_has_a_batch_of_its_own(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp_settings: Any
) -> None:
    """A cancellation queued with three new visitors is reconciled first, alone: its
    reapplication is not held up by three adds with faces."""
    leaving = register(family_name="Akhmetova")
    drain()
    newcomers = [register(family_name=name) for name in ("Seitkali", "Nurlanova", "Omarova")]
    desk.post(reverse("visits:cancel", args=[leaving.pk]))
    paths: list[str] = []
    observer = lambda path, data: paths.append(path)  # noqa: E731 - a one-line recorder

    with HikCentralClient(build_config(), response_observer=observer) as client:
        # The revocation, the grants, then the revocation's validity end.
        assert reconcile_due_work(client=client).reconciled == 5

    calls = [path for path in paths if path in (ADD, LOOK_UP, UPDATE, REMOVE, REAPPLY)]
    # The revocation (from the record: membership removed, reapplied - the devices drop the
    # face), then a batch of the grants and (SYNC, last) the look-up and the validity end.
    assert calls == [REMOVE, REAPPLY, ADD, ADD, ADD, LOOK_UP, UPDATE, REAPPLY]
    assert not site.control.passage(ENTRANCE, person_code=leaving.visitor.person_code).granted
    for visit in newcomers:
        assert hcp_person(site, visit.visitor.person_code)["accessLevels"] == [GUEST_LEVEL]


def test_a_revocation_that_comes_due_during_a_batch_of_grants_goes_next(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp_settings: Any
) -> None:
    """A visit is cancelled while a worker adds a batch of new visitors: the worker finishes
    the person it is on, asks the devices for the ones done so far, revokes, and only then
    adds the rest (given back still due, no attempt counted)."""
    leaving = register(family_name="Akhmetova")
    drain()
    newcomers = [register(family_name=f"Gostyeva{n}") for n in range(8)]
    paths: list[str] = []

    def observer(path: str, data: object) -> None:
        paths.append(path)
        if paths.count(ADD) == 3 and path == ADD:  # the desk cancels meanwhile
            desk.post(reverse("visits:cancel", args=[leaving.pk]))

    with HikCentralClient(build_config(), response_observer=observer) as client:
        result = reconcile_due_work(client=client)

    assert result.reconciled == 10  # the revocation's validity end too
    calls = [path for path in paths if path in (ADD, LOOK_UP, UPDATE, REMOVE, REAPPLY)]
    assert calls == [
        *[ADD] * 3,
        REAPPLY,  # the three done: their memberships, then the devices
        *[REMOVE, REAPPLY],  # the revocation, from the record
        *[ADD] * 5,
        *[LOOK_UP, UPDATE],  # in the same batch, last (SYNC): the revocation's validity end
        REAPPLY,
    ]
    assert not AccessWork.objects.filter(attempts__gt=0).exists()
    assert not site.control.passage(ENTRANCE, person_code=leaving.visitor.person_code).granted
    for visit in newcomers:
        assert hcp_person(site, visit.visitor.person_code)["accessLevels"] == [GUEST_LEVEL]


@pytest.fixture
def breaker_settings(hcp_settings: Any) -> Any:
    """A circuit breaker that opens at the first transient failure and cools down for one
    second (the settings' minimum), so that the test need not wait long."""
    hcp_settings.HCP_CIRCUIT_BREAKER_FAILURES = 1
    hcp_settings.HCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS = 1.0
    return hcp_settings


@pytest.fixture
def worker_client(breaker_settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The process client a worker uses (``reconciler.process_client``: the shared breaker
    with the engine's hook), built for this test's settings."""
    monkeypatch.setattr(reconciler, "_client", None)
    client = reconciler.process_client()
    yield client
    client.close()


def test_an_outage_counts_no_attempt_and_hcp_answering_again_makes_every_waiting_person_due(
    site: SimulatorHandle,
    register: Register,
    worker_client: HikCentralClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    visits = [register(family_name=name) for name in ("Akhmetova", "Seitkali", "Nurlanova")]
    woken: list[int] = []
    monkeypatch.setattr(reconciler, "wake_reconciler", lambda: woken.append(1))
    site.control.add_fault("drop")  # HCP unreachable: every connection dropped

    for _ in range(3):  # the desk's wake-ups and the sweep during the outage
        AccessWork.objects.update(due_at=timezone.now())
        result = reconcile_due_work(client=worker_client)
        assert (result.reconciled, result.retried) == (0, 3)
        assert 0 < result.paused_for <= 1.0  # the breaker's cool-down: the task looks then
        refused_at = timezone.now()
        for work in AccessWork.objects.all():
            assert work.state == WorkState.PENDING
            assert work.last_error_code
            # At most the one call that went out and failed counts; refusals count nothing.
            assert work.attempts <= 1
            assert work.due_at <= refused_at + timedelta(seconds=1)
    assert sum(AccessWork.objects.values_list("attempts", flat=True)) <= 1

    # A person whose calls failed before the breaker opened waits out a long backoff.
    backed_off = AccessWork.objects.get(person_code=visits[0].visitor.person_code)
    later = timezone.now() + timedelta(seconds=300)
    AccessWork.objects.filter(pk=backed_off.pk).update(due_at=later, attempts=5)
    assert woken == []

    site.control.clear_faults()  # HCP is back
    time.sleep(1.1)  # the cool-down ends: the next call is the probe
    result = reconcile_due_work(client=worker_client)

    # The probe's answer closed the circuit: every person waiting on HCP was made due (the
    # backed-off one too) and a worker woken; this run drained them all.
    assert woken == [1]
    assert result.reconciled == 3
    assert not AccessWork.objects.filter(due_at__lte=timezone.now()).exists()
    for visit in visits:
        assert hcp_person(site, visit.visitor.person_code)["accessLevels"] == [GUEST_LEVEL]


def test_hcp_answering_again_leaves_scheduled_and_failed_work_alone(
    site: SimulatorHandle, register: Register, drain: Drain, hcp_settings: Any
) -> None:
    """Only work put back on a transient error is brought forward: a window's end scheduled
    hours ahead and failed work are not."""
    later = register(family_name="Akhmetova", start=timezone.now() + timedelta(hours=3))
    failed = register(family_name="Seitkali")
    waiting = register(family_name="Nurlanova")
    drain()
    ahead = timezone.now() + timedelta(minutes=10)
    AccessWork.objects.filter(person_code=failed.visitor.person_code).update(
        state=WorkState.FAILED, last_error_code="2", due_at=ahead
    )
    AccessWork.objects.update_or_create(
        person_code=waiting.visitor.person_code,
        defaults={
            "visitor_id": waiting.visitor_id,
            "priority": WorkPriority.GRANT,
            "due_at": ahead,
            "attempts": 4,
            "last_error_code": "HCPNetworkError",
        },
    )
    scheduled = AccessWork.objects.get(person_code=later.visitor.person_code).due_at
    moment = timezone.now()

    assert reconciler.hcp_answers_again(now=moment) == 1

    rows = {row.person_code: row for row in AccessWork.objects.all()}
    assert rows[waiting.visitor.person_code].due_at == moment
    assert rows[failed.visitor.person_code].due_at == ahead
    assert rows[later.visitor.person_code].due_at == scheduled


def _granted_then_cancelled(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, names: list[str]
) -> list[Visit]:
    visits = [register(family_name=name) for name in names]
    drain()
    site.control.advance_clock(2)  # on the devices
    drain(now=timezone.now() + timedelta(seconds=3))
    for visit in visits:
        desk.post(reverse("visits:cancel", args=[visit.pk]))
    return visits


def test_a_batch_of_revocations_looks_up_and_ends_validities_side_by_side(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp_settings: Any
) -> None:
    """Four cancellations in one batch: the first look-up goes alone (after an outage it is
    the circuit breaker's probe), the other three are in flight together (each would wait in
    vain for the others at the barrier if they went one after another); then the memberships
    go and the devices are told; then the validity ends go the same way."""
    # The path of a revocation that looks its person up first (a retry, an unclean record).
    hcp_settings.PROPUSK_ACCESS_REVOKE_FROM_RECORD = False
    hcp_settings.HCP_PARALLEL_CALLS = 4
    leaving = _granted_then_cancelled(
        site, register, drain, desk, ["Akhmetova", "Seitkali", "Nurlanova", "Omarova"]
    )
    paths: list[str] = []
    together = {LOOK_UP: threading.Barrier(3, timeout=10), UPDATE: threading.Barrier(3, timeout=10)}

    def observer(path: str, data: object) -> None:
        paths.append(path)
        if path in together and paths.count(path) > 1:  # the others wait for each other
            together[path].wait()

    with HikCentralClient(build_config(), response_observer=observer) as client:
        assert reconcile_due_work(client=client).reconciled == 4

    calls = [path for path in paths if path in (ADD, LOOK_UP, UPDATE, REMOVE, REAPPLY)]
    assert calls == [LOOK_UP] * 4 + [REMOVE, REAPPLY] + [UPDATE] * 4
    for visit in leaving:
        assert not site.control.passage(ENTRANCE, person_code=visit.visitor.person_code).granted
        assert hcp_person(site, visit.visitor.person_code)["accessLevels"] == []


def test_one_look_up_failing_holds_up_none_of_the_batchs_other_revocations(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp_settings: Any
) -> None:
    """Side by side, an error stays with its person: HCP failing one look-up (5xx) puts that
    person's work back with a retry, the other three are revoked and reapplied."""
    # The path of a revocation that looks its person up first (a retry, an unclean record).
    hcp_settings.PROPUSK_ACCESS_REVOKE_FROM_RECORD = False
    leaving = _granted_then_cancelled(
        site, register, drain, desk, ["Akhmetova", "Seitkali", "Nurlanova", "Omarova"]
    )
    # Not the first (alone): one of those side by side.
    site.control.add_fault("latency", path=f"*{LOOK_UP}", ms=1, count=1)
    site.control.add_fault("http", path=f"*{LOOK_UP}", status=500, count=1)

    result = drain()

    assert (result.reconciled, result.retried) == (3, 1)
    retried = AccessWork.objects.get()  # whichever look-up reached HCP first
    assert (retried.state, retried.priority) == (WorkState.PENDING, WorkPriority.REVOKE)
    assert retried.attempts == 1
    assert retried.last_error_code
    for visit in leaving:
        levels = hcp_person(site, visit.visitor.person_code)["accessLevels"]
        assert levels == ([GUEST_LEVEL] if visit.visitor.person_code == retried.person_code else [])


def test_hcp_answering_again_during_calls_side_by_side_wakes_the_work_from_the_callers_thread(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    desk: Client,
    worker_client: HikCentralClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After an outage the probe may be one of a revocation batch's look-ups, in a thread of
    its own: the breaker's hook (database writes: the waiting work made due, a worker woken)
    runs in the worker's thread once the answers are in - in the test's transaction, which a
    write from another thread would wait on."""
    _granted_then_cancelled(site, register, drain, desk, ["Akhmetova", "Seitkali", "Nurlanova"])
    woken: list[int] = []
    monkeypatch.setattr(reconciler, "wake_reconciler", lambda: woken.append(1))
    site.control.add_fault("drop")
    AccessWork.objects.update(due_at=timezone.now())
    assert reconcile_due_work(client=worker_client).reconciled == 0
    backed_off = AccessWork.objects.filter(priority=WorkPriority.REVOKE).first()
    assert backed_off is not None
    AccessWork.objects.filter(pk=backed_off.pk).update(
        due_at=timezone.now() + timedelta(seconds=300), attempts=5
    )

    site.control.clear_faults()
    time.sleep(1.1)  # the cool-down ends: the next call is the probe
    AccessWork.objects.exclude(pk=backed_off.pk).update(due_at=timezone.now())
    reconcile_due_work(client=worker_client)

    assert woken == [1]
    # The hook made the backed-off revocation due again: a run takes it now.
    reconcile_due_work(client=worker_client)
    assert not AccessWork.objects.filter(priority=WorkPriority.REVOKE).exists()


def test_a_batchs_validity_ends_wait_while_another_revocation_is_due(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp_settings: Any
) -> None:
    """A visit is cancelled while another's revocation is being reapplied: that batch's
    validity end is left to a SYNC work of its own, so the waiting revocation is taken at
    once (its look-up, removal and reapplication come before the first one's update); the
    validity end follows in the same run, ending the first person's validity in HCP."""
    # The path of a revocation that looks its person up first (a retry, an unclean record).
    hcp_settings.PROPUSK_ACCESS_REVOKE_FROM_RECORD = False
    first, second = (register(family_name=name) for name in ("Akhmetova", "Seitkali"))
    drain()
    site.control.advance_clock(2)
    drain(now=timezone.now() + timedelta(seconds=3))
    desk.post(reverse("visits:cancel", args=[first.pk]))
    paths: list[str] = []

    def observer(path: str, data: object) -> None:
        paths.append(path)
        if path == REAPPLY and paths.count(REAPPLY) == 1:  # the desk cancels meanwhile
            desk.post(reverse("visits:cancel", args=[second.pk]))

    with HikCentralClient(build_config(), response_observer=observer) as client:
        assert reconcile_due_work(client=client).reconciled == 3

    calls = [path for path in paths if path in (ADD, LOOK_UP, UPDATE, REMOVE, REAPPLY)]
    assert calls == [
        *(LOOK_UP, REMOVE, REAPPLY),  # the first revocation: the devices are told
        *(LOOK_UP, REMOVE, REAPPLY, UPDATE),  # the second, then its validity end
        # The first one's validity end, deferred (no reapplication: no device holds it).
        *(LOOK_UP, UPDATE),
    ]
    assert not AccessWork.objects.exists()
    for visit in (first, second):
        person = hcp_person(site, visit.visitor.person_code)
        assert person["accessLevels"] == []
        assert datetime.fromisoformat(person["endTime"]) <= timezone.now()
    audited = AuditEntry.objects.filter(actor_label="access-engine", action="hcp.access_revoked")
    assert {entry.changes["sent"]["person_code"] for entry in audited} == {
        first.visitor.person_code,
        second.visitor.person_code,
    }
