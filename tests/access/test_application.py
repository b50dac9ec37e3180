"""Whether HCP applied our changes to the devices: a simulator whose devices take a second
(simulator time) after each reapplication, so the waiting is visible. The reconciler records
"waiting", then "applied" (ending the time to revoke) or "failed" (a door offline: retried),
and never hangs on an answer HCP does not give."""

from __future__ import annotations

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
from propusk.access.models import AccessWork, ApplyState, HcpPerson, WorkPriority, WorkState
from propusk.access.reconciler import ReconcileResult
from propusk.integrations.hikcentral.factory import build_config
from propusk.visits.models import Visit

from .conftest import ENTRANCE, start_simulator

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

APPLY_DELAY = 1.0

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    yield from start_simulator(apply_delay=APPLY_DELAY)


def devices_catch_up(site: SimulatorHandle) -> datetime:
    """Simulator time moves past the application delay; the next check is due (our time)."""
    site.control.advance_clock(APPLY_DELAY + 1)
    return timezone.now() + timedelta(seconds=3)


def test_waiting_then_applied(site: SimulatorHandle, register: Register, drain: Drain) -> None:
    visit = register()
    code = visit.visitor.person_code

    result = drain()

    assert (result.reconciled, result.waiting) == (1, 1)
    confirmed = HcpPerson.objects.get(person_code=code)
    assert confirmed.apply_state == ApplyState.WAITING
    assert confirmed.apply_requested_at is not None
    assert site.control.passage(ENTRANCE, person_code=code).reason == "not_applied"

    later = devices_catch_up(site)
    result = drain(now=later)

    assert (result.reconciled, result.applied, result.waiting) == (0, 1, 0)
    confirmed.refresh_from_db()
    assert (confirmed.apply_state, confirmed.applied_at) == (ApplyState.APPLIED, later)
    assert site.control.passage(ENTRANCE, person_code=code).granted


def test_the_time_to_revoke_ends_when_hcp_applied_the_revocation(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    drain(now=devices_catch_up(site))
    desk.post(reverse("visits:cancel", args=[visit.pk]))

    drain()

    visit.refresh_from_db()
    assert visit.access_revoked_at is None  # asked, not yet on the devices
    assert HcpPerson.objects.get(person_code=code).apply_state == ApplyState.WAITING
    assert site.control.passage(ENTRANCE, person_code=code).granted  # the device lags

    later = devices_catch_up(site)
    drain(now=later)

    visit.refresh_from_db()
    assert visit.access_should_end_at is not None
    assert visit.access_revoked_at == later
    assert not site.control.passage(ENTRANCE, person_code=code).granted


def test_a_door_that_fails_is_recorded_and_applied_again_later(
    site: SimulatorHandle, register: Register, drain: Drain, settings: Any
) -> None:
    site.control.add_fault("door_offline", doorIndexCode=ENTRANCE)
    visit = register()
    code = visit.visitor.person_code
    drain()
    later = devices_catch_up(site)

    result = drain(now=later)

    assert result.apply_failed == 1
    confirmed = HcpPerson.objects.get(person_code=code)
    assert confirmed.apply_state == ApplyState.FAILED
    assert "194" in confirmed.apply_error
    work = AccessWork.objects.get(person_code=code)
    retry_at = later + timedelta(seconds=settings.PROPUSK_ACCESS_APPLY_RETRY_SECONDS)
    assert (work.state, work.due_at) == (WorkState.PENDING, retry_at)

    site.control.clear_faults()
    assert drain(now=retry_at).reconciled == 1  # nothing differs: only the reapplication
    assert HcpPerson.objects.get(person_code=code).apply_state == ApplyState.WAITING
    site.control.advance_clock(APPLY_DELAY + 1)
    drain(now=retry_at + timedelta(seconds=3))

    assert HcpPerson.objects.get(person_code=code).apply_state == ApplyState.APPLIED
    assert site.control.passage(ENTRANCE, person_code=code).granted
    assert AccessWork.objects.get(person_code=code).priority == WorkPriority.REVOKE


def test_an_answer_that_does_not_say_is_taken_as_applied_after_a_while(
    site: SimulatorHandle, register: Register, drain: Drain, settings: Any
) -> None:
    site.control.set_quirks(application_result_shape="empty")
    visit = register()
    code = visit.visitor.person_code
    drain()
    site.control.advance_clock(APPLY_DELAY + 1)

    soon = drain(now=timezone.now() + timedelta(seconds=3))
    assert HcpPerson.objects.get(person_code=code).apply_state == ApplyState.WAITING
    assert soon.applied == 0

    after = timezone.now() + timedelta(seconds=settings.PROPUSK_ACCESS_APPLY_ASSUME_SECONDS + 1)
    assert drain(now=after).applied == 1
    assert HcpPerson.objects.get(person_code=code).apply_state == ApplyState.APPLIED


def test_waiting_that_never_ends_is_recorded_as_not_known(
    site: SimulatorHandle, register: Register, drain: Drain, settings: Any
) -> None:
    """The devices never finish applying our change (HCP's clock is set back right after the
    reapplication, so HCP keeps counting it "being applied"): the sweep keeps asking, and once
    PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS have passed the person is recorded as not known and
    no longer asked about. (A change someone else left unapplied in HCP does not count:
    test_stateful.test_a_change_left_unapplied_in_hcp_by_someone_else_...)"""
    visit = register()
    code = visit.visitor.person_code
    drain()
    timeout = settings.PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS
    site.control.set_clock(timezone.now() - timedelta(seconds=2 * timeout))  # devices stall
    start = timezone.now()
    for seconds in (3, timeout / 3, 2 * timeout / 3):  # the sweep, as time goes by
        drain(now=start + timedelta(seconds=seconds))
        assert HcpPerson.objects.get(person_code=code).apply_state == ApplyState.WAITING

    result = drain(now=start + timedelta(seconds=timeout + 1))

    confirmed = HcpPerson.objects.get(person_code=code)
    assert confirmed.apply_state == ApplyState.UNKNOWN
    assert "still reported changes waiting" in confirmed.apply_error
    assert result.waiting == 0
    site.control.set_clock(timezone.now() + timedelta(seconds=APPLY_DELAY + 1))
    assert site.control.passage(ENTRANCE, person_code=code).granted  # it got there in the end


def test_the_task_looks_at_the_devices_again_soon_once(
    site: SimulatorHandle, register: Register, hcp_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While persons wait for the devices, the task schedules one follow-up run a moment
    later (not one per run), instead of leaving the confirmation to the next sweep."""
    from propusk.access import tasks

    scheduled: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks.reconcile_due, "apply_async", lambda **kw: scheduled.append(kw))
    register()

    assert tasks.reconcile_due.apply().get()["waiting"] == 1
    assert tasks.reconcile_due.apply().get()["waiting"] == 1

    # Once, for when the person may be asked about: the check interval after its reapplication.
    assert len(scheduled) == 1
    assert 0 < scheduled[0]["countdown"] <= hcp_settings.PROPUSK_ACCESS_APPLY_CHECK_SECONDS


def test_a_visit_whose_end_changed_nothing_in_hcp_is_revoked_with_the_waiting_change(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client
) -> None:
    """A short visit inside a long one is cancelled while the devices still wait for the
    enrolment: HCP needs no change, and the short visit's time to revoke ends when the
    enrolment is applied."""
    from tests.factories import make_iin

    iin = make_iin()
    long = register(national_id=iin, minutes=240)
    short = register(national_id=iin, minutes=60)
    drain()
    desk.post(reverse("visits:cancel", args=[short.pk]))
    drain()
    short.refresh_from_db()
    assert short.access_revoked_at is None

    later = devices_catch_up(site)
    drain(now=later)

    short.refresh_from_db()
    assert short.access_revoked_at == later
    long.refresh_from_db()
    assert long.access_revoked_at is None


def test_a_revocation_waiting_for_the_devices_is_asked_about_again_sooner_than_a_grant(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp_settings: Any
) -> None:
    """Both are first asked about the check interval after their reapplication; a revocation
    still waiting then is asked again every quarter of it (its confirmation ends the time to
    revoke), a grant only after the whole interval."""
    leaving = register(family_name="Akhmetova")
    drain()
    drain(now=devices_catch_up(site))
    staying = register(family_name="Seitkali")
    desk.post(reverse("visits:cancel", args=[leaving.pk]))
    # The devices lag well behind (simulator time held back): nothing gets applied meanwhile.
    site.control.set_clock(timezone.now() - timedelta(seconds=60))
    drain()
    revocation = HcpPerson.objects.get(person_code=leaving.visitor.person_code)
    grant = HcpPerson.objects.get(person_code=staying.visitor.person_code)
    assert revocation.revoked_at is not None
    assert (revocation.apply_state, grant.apply_state) == (ApplyState.WAITING, ApplyState.WAITING)
    every = timedelta(seconds=hcp_settings.PROPUSK_ACCESS_APPLY_CHECK_SECONDS)
    asked = max(revocation.apply_requested_at, grant.apply_requested_at)
    assert asked is not None

    first = asked + every
    result = drain(now=first)
    assert result.waiting == 2
    assert 0 < result.next_check_in <= every.total_seconds() / 4  # the revocation's next look
    drain(now=first + every / 4)

    revocation.refresh_from_db()
    grant.refresh_from_db()
    assert revocation.apply_checked_at == first + every / 4
    assert grant.apply_checked_at == first  # not asked again yet
    drain(now=first + every)
    grant.refresh_from_db()
    assert grant.apply_checked_at == first + every


def test_a_lingering_run_confirms_its_revocation_itself(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp: Any
) -> None:
    """The task's run (``linger``) does not end while its revocation waits for the devices: it
    asks again until HCP says the devices have it, so the time to revoke does not wait for a
    follow-up task queued behind other work. A run without ``linger`` leaves it waiting."""
    from propusk.access.reconciler import reconcile_due_work

    visit = register()
    drain()
    drain(now=devices_catch_up(site))
    desk.post(reverse("visits:cancel", args=[visit.pk]))

    result = reconcile_due_work(client=hcp, linger=10 * APPLY_DELAY)

    # Reconciled twice: the revocation, then its validity end.
    assert (result.reconciled, result.applied, result.waiting) == (2, 1, 0)
    visit.refresh_from_db()
    assert visit.access_revoked_at is not None
    assert not site.control.passage(ENTRANCE, person_code=visit.visitor.person_code).granted

    other = register(family_name="Seitkali")
    drain()
    drain(now=devices_catch_up(site))
    desk.post(reverse("visits:cancel", args=[other.pk]))
    assert drain().waiting == 1


def _revocation_applied_while_another_change_is_being_applied(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client
) -> tuple[Visit, Visit, datetime]:
    """A visit cancelled, its revocation on the devices; meanwhile a new visitor's enrolment
    stays "being applied" (simulator time held back after its reapplication), so HCP's
    site-wide counts keep saying something is being applied. The moment to look."""
    leaving = register(family_name="Omarova", given_name="Aigerim")
    drain()
    drain(now=devices_catch_up(site))
    desk.post(reverse("visits:cancel", args=[leaving.pk]))
    drain()
    site.control.advance_clock(APPLY_DELAY + 1)  # the revocation reaches the devices
    arriving = register(family_name="Sergeyev", given_name="Pavel")
    drain()
    site.control.set_clock(timezone.now() - timedelta(seconds=60))  # the enrolment lags
    assert not site.control.passage(ENTRANCE, person_code=leaving.visitor.person_code).granted
    return leaving, arriving, timezone.now() + timedelta(seconds=3)


def test_a_revocation_is_confirmed_by_its_own_answer_whatever_the_counts_say(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client
) -> None:
    """HCP's counts (the simulator's default shape) say a change is being applied - not
    whose. The revocation is asked about by itself (elementDownloadDetail): its devices
    dropped the person, so it is confirmed; the enrolment still waits."""
    leaving, arriving, later = _revocation_applied_while_another_change_is_being_applied(
        site, register, drain, desk
    )

    drain(now=later)

    leaving.refresh_from_db()
    assert leaving.access_revoked_at == later
    revoked = HcpPerson.objects.get(person_code=leaving.visitor.person_code)
    enrolled = HcpPerson.objects.get(person_code=arriving.visitor.person_code)
    assert (revoked.apply_state, enrolled.apply_state) == (ApplyState.APPLIED, ApplyState.WAITING)


def test_without_per_person_looks_the_counts_hold_the_revocation_up(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp_settings: Any
) -> None:
    """The same with the per-person looks off: only the site-wide counts, which cannot say
    the revocation is done while anything is being applied."""
    hcp_settings.PROPUSK_ACCESS_APPLY_PERSON_LOOKS = 0
    leaving, _, later = _revocation_applied_while_another_change_is_being_applied(
        site, register, drain, desk
    )

    drain(now=later)

    leaving.refresh_from_db()
    assert leaving.access_revoked_at is None
    revoked = HcpPerson.objects.get(person_code=leaving.visitor.person_code)
    assert revoked.apply_state == ApplyState.WAITING


def test_a_revocation_still_on_the_devices_is_not_confirmed_by_its_own_answer(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client
) -> None:
    """While the devices still hold the person (simulator time held back), its own answer
    says pending: the revocation waits."""
    leaving = register(family_name="Nurlanov", given_name="Daulet")
    drain()
    drain(now=devices_catch_up(site))
    desk.post(reverse("visits:cancel", args=[leaving.pk]))
    drain()
    site.control.set_clock(timezone.now() - timedelta(seconds=60))  # the devices lag

    drain(now=timezone.now() + timedelta(seconds=3))

    leaving.refresh_from_db()
    assert leaving.access_revoked_at is None
    assert site.control.passage(ENTRANCE, person_code=leaving.visitor.person_code).granted


def test_hcp_refusing_per_person_looks_falls_back_to_application_result(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    desk: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An HCP serving elementDownloadDetail only for the visitor module's persons refuses
    ours: the revocation is judged by applicationResult (here: held up by the counts, as
    before), and HCP is not asked one by one again for a while."""
    site.control.set_quirks(element_detail_refused=True)
    leaving, _, later = _revocation_applied_while_another_change_is_being_applied(
        site, register, drain, desk
    )

    with caplog.at_level("INFO", logger="propusk.access.reconciler"):
        drain(now=later)
        drain(now=later + timedelta(seconds=1))

    leaving.refresh_from_db()
    assert leaving.access_revoked_at is None  # the counts say something is being applied
    refusals = [r for r in caplog.records if "refuses elementDownloadDetail" in r.getMessage()]
    assert len(refusals) == 1

    site.control.set_clock(timezone.now() + timedelta(seconds=30))  # everything applied
    done = later + timedelta(seconds=2)
    drain(now=done)
    leaving.refresh_from_db()
    assert leaving.access_revoked_at == done  # by the counts rule: nothing being applied


def test_on_the_real_clock_a_revocation_is_recorded_when_its_own_answer_came(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp: Any
) -> None:
    """With the real clock the time to revoke ends when HCP's answer came, not when the look
    began; and a revocation confirmed by its own answer is recorded before applicationResult
    is read for the grants waiting beside it (slowed down here), so its end does not wait
    for that call."""
    from propusk.access.reconciler import check_application

    leaving, arriving, _ = _revocation_applied_while_another_change_is_being_applied(
        site, register, drain, desk
    )
    site.control.set_clock(timezone.now() + timedelta(seconds=30))  # everything applied
    HcpPerson.objects.update(apply_requested_at=timezone.now() - timedelta(seconds=5))
    site.control.add_fault("latency", path="*/elementDownloadDetail", ms=300)
    site.control.add_fault("latency", path="*/applicationResult", ms=600)
    began = timezone.now()

    result = check_application(hcp, now=None)

    assert result.applied == 2
    leaving.refresh_from_db()
    revoked = HcpPerson.objects.get(person_code=leaving.visitor.person_code)
    enrolled = HcpPerson.objects.get(person_code=arriving.visitor.person_code)
    assert revoked.applied_at is not None
    assert enrolled.applied_at is not None
    assert leaving.access_revoked_at == revoked.applied_at
    assert revoked.applied_at >= began + timedelta(seconds=0.3)  # its own answer's moment
    assert enrolled.applied_at >= revoked.applied_at + timedelta(seconds=0.6)


def test_a_lingering_run_takes_a_revocation_queued_during_its_wait_at_once(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    desk: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run lingers for its revocation (the devices lag, so it keeps looking). A visit
    cancelled while it waits ends the wait at the next slice - its wake-up task would queue
    behind this very run when every worker is busy - instead of after the rest of it."""
    from propusk.access import reconciler
    from propusk.access.reconciler import LINGER_SLICE, reconcile_due_work

    waiting = register(family_name="Omarova", given_name="Aigerim")
    second = register(family_name="Seitkali", given_name="Nurlan")
    drain()
    drain(now=devices_catch_up(site))
    desk.post(reverse("visits:cancel", args=[waiting.pk]))
    drain()
    site.control.set_clock(timezone.now() - timedelta(seconds=60))  # the devices lag
    events: list[tuple[str, float]] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        events.append(("sleep", seconds))
        if not any(kind == "cancel" for kind, _ in events):
            desk.post(reverse("visits:cancel", args=[second.pk]))
            events.append(("cancel", 0.0))
        real_sleep(seconds)

    def observer(path: str, data: object) -> None:
        if path.endswith("/deletePersons"):  # the revocation's first call
            events.append(("removal", 0.0))

    monkeypatch.setattr(reconciler.time, "sleep", sleep)
    with HikCentralClient(build_config(), response_observer=observer) as client:
        result = reconcile_due_work(client=client, linger=0.5)

    assert result.reconciled == 2  # the revocation, then its validity end
    second.refresh_from_db()
    assert HcpPerson.objects.get(person_code=second.visitor.person_code).revoked_at is not None
    cancelled = events.index(("cancel", 0.0))
    taken = events.index(("removal", 0.0))
    slept = [seconds for kind, seconds in events[cancelled:taken] if kind == "sleep"]
    assert sum(slept) <= LINGER_SLICE
    assert all(seconds <= LINGER_SLICE for kind, seconds in events if kind == "sleep")
