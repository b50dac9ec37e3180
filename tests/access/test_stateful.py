"""The access engine under random sequences of what happens at a site (Hypothesis stateful).

Reception and hosts register visits over HTTP (planned visits and walk-ins, returning visitors,
overlapping visits of one person, an ID number already on file that reception confirms or
rejects at the desk), reschedule, extend, shorten, cancel, check in and out; security holds and
restores a visitor's access; the clock moves (our clock through time_machine and the
simulator's through its control API, together), so access windows open and close, while beat
closes expired visits and runs the sweep; workers run while the simulator drops connections,
loses answers, answers 5xx, 429, busy or over quota, holds requests past the timeout or has a
door offline; a worker is killed part-way through a run
(after HCP did a call, before we recorded it), its leases left behind or given back; beat's full
sync runs; someone edits our persons by hand in HCP, or HCP is rebuilt empty.

At the end of every sequence (and whenever ``everything_converges`` is drawn) the faults are
cleared and the engine converges as workers and the sweep would while time passes (with the
periodic full sync after edits by hand); then HCP must hold exactly the desired state of every
person of ours, one person per person code, no staff person or membership touched, what we
recorded must be what HCP holds, every time to revoke recorded, a dry-run sync must find no
drift, and the turnstile must let each visitor's face through exactly when one of their visits
gives access now (stateful_support.engine_problems).

Each example starts from the same moment with an empty database (a savepoint rolled back) and a
fresh simulator site. The suite runs the same ``PROPUSK_STATEFUL_EXAMPLES`` (default 6)
examples of ``PROPUSK_STATEFUL_STEPS`` (default 25) steps every time; setting
``PROPUSK_STATEFUL_EXAMPLES`` (e.g. 200) makes a longer, random run. A failure prints the
sequence of steps, with notes of what each did, and the problems found.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    multiple,
    rule,
    run_state_machine_as_test,
)

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient, HikCentralError, PersonInput
from propusk.access import services as access_services
from propusk.access.models import AccessLevelPolicy, AccessWork, ApplyState, HcpPerson
from propusk.access.reconciler import reconcile_due_work
from propusk.access.sync import full_sync
from propusk.integrations.hikcentral.factory import build_client, build_config
from propusk.visits.models import Visit
from propusk.visits.services import close_expired_visits
from tests.factories import make_jpeg

from .conftest import ALMATY, start_simulator
from .stateful_support import (
    PEOPLE,
    Outsiders,
    WorkerKilled,
    browser,
    converge,
    engine_problems,
    real_clock_ms,
    register_over_http,
    wait_out_open_breaker,
)

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

EXAMPLES = int(os.environ.get("PROPUSK_STATEFUL_EXAMPLES", "6"))
STEPS = int(os.environ.get("PROPUSK_STATEFUL_STEPS", "25"))
# Every example starts here (a Monday morning at the site), whatever the real date.
START = datetime(2030, 3, 4, 8, 30, tzinfo=ALMATY)
APPLY_DELAY = 1.0  # seconds (simulator time) for a change to reach the devices
SWEEP_EVERY = timedelta(minutes=5)  # how often beat's sweep runs while time passes, here
MAX_SYNCS = 3  # periodic syncs after edits by hand before HCP must be as desired
READ_TIMEOUT = 0.5  # seconds: a request held by a "timeout" fault costs this much real time

PATHS = {
    "person add": "/api/resource/v1/person/single/add",
    "person update": "/api/resource/v1/person/single/update",
    "person look-up": "/api/resource/v1/person/personCode/*",
    "face": "/api/resource/v1/person/face/update",
    "addPersons": "/api/acs/v1/privilege/group/single/addPersons",
    "deletePersons": "/api/acs/v1/privilege/group/single/deletePersons",
    "reapplication": "/api/visitor/v1/auth/reapplication",
    "door list": "/api/resource/v1/acsDoor/acsDoorList",
    "application result": "/api/acs/v1/auth/applicationResult",
    "organisations": "/api/resource/v1/org/advance/orgList",
    "any call": "*",
}
FAULTS: dict[str, dict[str, Any]] = {
    "drop": {"kind": "drop"},
    "lost response": {"kind": "lost_response"},
    "lost response 502": {"kind": "lost_response", "status": 502},
    "503": {"kind": "http", "status": 503},
    "429": {"kind": "http", "status": 429, "retryAfter": 7},
    "busy": {"kind": "code", "code": "6", "msg": "Server busy."},
    "timeout": {"kind": "timeout", "seconds": 2},
}

# (who - a family name of PEOPLE, start in minutes - None: a walk-in, minutes, policy, by)
Registration = tuple[str, int | None, int, str, str]
START_IN = st.sampled_from([None, None, 5, 30, 90, 240, 1440])
MINUTES = st.sampled_from([30, 60, 120, 240])
POLICIES = st.sampled_from(["guest", "guest", "student", "vip"])
REGISTRATIONS = st.tuples(
    st.sampled_from([person.family_name for person in PEOPLE]),
    START_IN,
    MINUTES,
    POLICIES,
    st.sampled_from(["reception", "host"]),
)
FAULT_RULES = st.one_of(
    st.tuples(st.sampled_from(sorted(FAULTS)), st.sampled_from(sorted(PATHS))),
    st.tuples(st.just("quota"), st.sampled_from(["1", "3"])),
    st.tuples(st.just("door offline"), st.sampled_from(["1", "2", "3", "4"])),
)


def _end_validity(hand: HikCentralClient, person_id: str, person: dict[str, Any]) -> None:
    info = hand.get_person_by_code(person["personCode"])
    end = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    hand.update_person(
        person_id,
        PersonInput(
            person_code=info.person_code or person["personCode"],
            org_index_code=info.org_index_code or "2",
            family_name=info.family_name or "",
            given_name=info.given_name or "",
            begin_time=end - timedelta(hours=1),
            end_time=end,
        ),
    )


def _remove_levels(hand: HikCentralClient, person_id: str, person: dict[str, Any]) -> None:
    for level in person["accessLevels"]:
        hand.delete_persons_from_access_level(level, [person_id])


HAND_EDITS: dict[str, Callable[[HikCentralClient, str, dict[str, Any]], None]] = {
    "deletes a person": lambda hand, pid, _: hand.delete_person(person_id=pid),
    "removes its levels": _remove_levels,
    "adds the VIP level": lambda hand, pid, _: hand.add_persons_to_access_level("2", [pid]),
    "ends its validity": _end_validity,
}
WIPE = "wipes HCP"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    yield from start_simulator(apply_delay=APPLY_DELAY)


class VisitsCrashesAndFaults(RuleBasedStateMachine):
    """One site: reception, a host, the three policies, the HCP simulator."""

    sim: SimulatorHandle
    reception: User
    host: User
    security: User
    policies: dict[str, AccessLevelPolicy]
    django_settings: Any
    tmp_path: Path

    visits = Bundle("visits")

    def __init__(self) -> None:
        super().__init__()
        cache.clear()  # throttle counters of the look-ups by ID number
        self.photos = itertools.count(1)
        self.people: dict[int, str] = {}  # visit id: who
        self.registrars: dict[int, User] = {}  # visit id: who registered it
        self.edited_by_hand = False
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.travel = time_machine.travel(START, tick=False)
        self.clock = self.travel.start()
        try:
            self.hcp = self.set_up_site()
        except BaseException:
            self.travel.stop()
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)
            raise

    def set_up_site(self) -> HikCentralClient:
        # The shared rate limiter and circuit breaker keep their state per example: a breaker
        # opened in one must not refuse the next one's calls, which start earlier in time.
        throttle = self.tmp_path / f"throttle-{next(_examples)}"
        throttle.mkdir()
        self.django_settings.HCP_RATE_LIMIT_URL = throttle.as_uri()
        control = self.sim.control
        control.reset()
        control.add_org("2", "Propusk visitors")
        control.add_org("3", "Staff")
        control.set_clock(START)
        # The site's own staff, entered through HCP's client (not through our limiter).
        with HikCentralClient(build_config(), clock_ms=real_clock_ms) as staff_office:
            self.outsiders = Outsiders.seed(self.sim, staff_office, START)
        return build_client(clock_ms=real_clock_ms)

    # --- helpers ------------------------------------------------------------------------

    def move_clock_to(self, moment: datetime) -> None:
        self.clock.move_to(moment)
        self.sim.control.set_clock(moment)

    def photo(self) -> bytes:
        """A face of its own for every registration, so a face shown at the turnstile names
        one record."""
        n = next(self.photos)
        return make_jpeg(240, 240, (90 + (n * 37) % 150, 60 + (n * 53) % 150, 40 + (n * 71) % 150))

    def visit(self, visit_id: int) -> Visit:
        return Visit.objects.select_related("visitor").get(pk=visit_id)

    def post(self, user: User, name: str, visit_id: int, data: dict[str, str]) -> str:
        response = browser(user).post(reverse(f"visits:{name}", args=[visit_id]), data)
        visit = self.visit(visit_id)
        return f"HTTP {response.status_code}, visit {visit_id} now {visit.status}"

    # --- visits -------------------------------------------------------------------------

    def registered(
        self, who: str, start_in: int | None, minutes: int, policy: str, by: str
    ) -> int | None:
        user = self.reception if by == "reception" else self.host
        start = None
        if start_in is not None:
            start = (timezone.now() + timedelta(minutes=start_in)).replace(second=0, microsecond=0)
        before = (Visit.objects.count(), AccessWork.objects.count())
        visit, refusal = register_over_http(
            user,
            host=self.host,
            person=next(person for person in PEOPLE if person.family_name == who),
            photo=self.photo(),
            start=start,
            minutes=minutes,
            kind="student" if policy == "student" else "guest",
            policy_pk=self.policies[policy].pk if policy == "vip" else None,
        )
        if visit is None:
            note(f"registration refused: {refusal}")
            # A refused form changes nothing.
            assert (Visit.objects.count(), AccessWork.objects.count()) == before, refusal
            return None
        self.people[visit.pk] = who
        self.registrars[visit.pk] = user
        note(
            f"visit {visit.pk} of {who} ({visit.visitor.person_code}): "
            f"{visit.planned_start.astimezone(ALMATY):%d.%m %H:%M:%S} - "
            f"{visit.planned_end.astimezone(ALMATY):%H:%M:%S}, {policy}"
        )
        return visit.pk

    @initialize(target=visits, first=REGISTRATIONS, second=REGISTRATIONS)
    def the_day_begins(self, first: Registration, second: Registration) -> Any:
        """Two registrations before anything else happens."""
        return multiple(
            *(pk for pk in (self.registered(*first), self.registered(*second)) if pk is not None)
        )

    @rule(target=visits, registration=REGISTRATIONS)
    def register(self, registration: Registration) -> Any:
        """Registered at the desk (a walk-in when the start is None) or by the host (an ID
        number on file then makes a new record, checked at the desk on arrival)."""
        visit_id = self.registered(*registration)
        return multiple() if visit_id is None else visit_id

    @rule(
        target=visits,
        visit_id=visits,
        start_in=START_IN,
        minutes=MINUTES,
        policy=POLICIES,
    )
    def comes_again(self, visit_id: int, start_in: int | None, minutes: int, policy: str) -> Any:
        """The visitor of that visit registered again at the desk: a returning visitor, and
        two visits of one person that may overlap (a foreign guest without an ID number is a
        new record each time)."""
        registered = self.registered(self.people[visit_id], start_in, minutes, policy, "reception")
        return multiple() if registered is None else registered

    @rule(visit_id=visits)
    def check_in(self, visit_id: int) -> None:
        note(self.post(self.reception, "check_in", visit_id, {}))

    @rule(visit_id=visits)
    def check_out(self, visit_id: int) -> None:
        note(self.post(self.reception, "check_out", visit_id, {}))

    @rule(visit_id=visits)
    def cancel(self, visit_id: int) -> None:
        """By whoever registered it (the host's visits of another day are not reception's)."""
        user = self.registrars[visit_id]
        note(self.post(user, "cancel", visit_id, {"reason": "Plans changed"}))

    @rule(
        visit_id=visits,
        start_by=st.sampled_from([0, 0, -30, 15, 60]),
        end_by=st.sampled_from([-60, -15, 30, 120]),
    )
    def change_time(self, visit_id: int, start_by: int, end_by: int) -> None:
        """Reschedule, extend or shorten (the start only while the visitor is not inside), by
        whoever registered the visit."""
        visit = self.visit(visit_id)
        start = visit.planned_start + timedelta(minutes=start_by)
        end = visit.planned_end + timedelta(minutes=end_by)
        note(
            self.post(
                self.registrars[visit_id],
                "change_window",
                visit_id,
                {"window-planned_start": _local(start), "window-planned_end": _local(end)},
            )
        )

    @rule(visit_id=visits, decision=st.sampled_from(["same_keep", "same_take", "different"]))
    def confirm_identity(self, visit_id: int, decision: str) -> None:
        """Reception checks the ID document of a visitor whose number was already on file."""
        needed = self.visit(visit_id).visitor.needs_identity_check
        outcome = self.post(self.reception, "identity", visit_id, {"decision": decision})
        note(f"identity check {'needed' if needed else 'not needed'}: {outcome}")

    # --- time ---------------------------------------------------------------------------

    @rule(minutes=st.sampled_from([1, 5, 15, 45, 120, 360]))
    def time_passes(self, minutes: int) -> None:
        """Our clock and the simulator's move on. Beat closes the visits that are over and runs
        the sweep (here every few minutes, not every 10 s)."""
        end = timezone.now() + timedelta(minutes=minutes)
        while (now := timezone.now()) < end:
            self.move_clock_to(min(end, now + SWEEP_EVERY))
            closed = close_expired_visits()
            if closed.checked_out or closed.no_show:
                note(f"{timezone.now().astimezone(ALMATY):%d.%m %H:%M}: closed {closed}")
            reconcile_due_work(client=self.hcp)

    @rule(minutes=st.sampled_from([5, 15, 45]))
    def every_worker_stopped(self, minutes: int) -> None:
        """Every worker (and so beat's sweep) is down while time passes: nothing is reconciled
        or asked about meanwhile - longer than PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS for the
        longer ones (test_a_revocation_waiting_through_a_worker_outage_is_still_confirmed)."""
        self.move_clock_to(timezone.now() + timedelta(minutes=minutes))

    # --- workers and HCP ----------------------------------------------------------------

    @rule()
    def worker_runs(self) -> None:
        """A worker drains what is due, whatever HCP does at the moment."""
        note(f"worker: {reconcile_due_work(client=self.hcp)}")

    @rule(after_calls=st.integers(min_value=0, max_value=8), leases_left=st.booleans())
    def worker_killed(self, after_calls: int, leases_left: bool) -> None:
        """A worker dies right after HCP answered its ``after_calls + 1``-th call, before it
        recorded the answer; with ``leases_left`` like a killed process (its leases stay until
        they expire), otherwise like one stopped by an error (it gives them back)."""
        answers = itertools.count(1)
        leases: list[dict[str, Any]] = []

        def die(path: str, data: object) -> None:
            if next(answers) > after_calls:
                leases[:] = [
                    dict(row)
                    for row in AccessWork.objects.exclude(lease_token="").values(
                        "pk", "lease_token", "leased_until"
                    )
                ]
                raise WorkerKilled(path)

        with build_client(clock_ms=real_clock_ms, response_observer=die) as dying:
            try:
                reconcile_due_work(client=dying)
            except WorkerKilled as killed:
                note(f"worker killed after {killed}, holding {len(leases)} lease(s)")
                if leases_left:
                    for lease in leases:
                        AccessWork.objects.filter(pk=lease["pk"]).update(
                            lease_token=lease["lease_token"], leased_until=lease["leased_until"]
                        )
            else:
                note("the worker finished before its death")

    @rule(fault=FAULT_RULES)
    def hcp_fails(self, fault: tuple[str, str]) -> None:
        """HCP starts failing: the next two calls to a path, its call quota below ours until
        it recovers, or a door's device offline (its applications fail)."""
        what, where = fault
        if what == "quota":
            self.sim.control.add_fault("quota", rps=int(where))
        elif what == "door offline":
            self.sim.control.add_fault("door_offline", doorIndexCode=where)
        else:
            self.sim.control.add_fault(path=PATHS[where], count=2, **FAULTS[what])

    @rule()
    def periodic_sync(self) -> None:
        """Beat's full sync compares HCP with the desired state (whatever HCP does now: a sync
        that cannot read everything takes nothing away) and queues the drift."""
        report = full_sync(client=self.hcp)
        note(f"sync: {report.summary()}")

    @rule(
        visit_id=visits,
        edit=st.sampled_from([*sorted(HAND_EDITS), WIPE]),
        applies=st.booleans(),
    )
    def someone_edits_hcp_by_hand(self, visit_id: int, edit: str, applies: bool) -> None:
        """Someone at HCP's own client changes the person of this visit's visitor (and applies
        the change to the devices, or leaves it waiting: HCP then counts a change waiting for
        ever, test_a_change_left_unapplied_in_hcp_...), or HCP is rebuilt empty. Only the full
        sync notices: it runs before the next convergence."""
        self.edited_by_hand = True
        if edit == WIPE:
            self.sim.control.reset()
            self.sim.control.add_org("2", "Propusk visitors")
            self.sim.control.add_org("3", "Staff")
            self.sim.control.set_clock(timezone.now())
            with HikCentralClient(build_config(), clock_ms=real_clock_ms) as staff_office:
                self.outsiders = Outsiders.seed(self.sim, staff_office, timezone.now())
            note("HCP rebuilt empty (the staff entered again)")
            return
        code = self.visit(visit_id).visitor.person_code
        held = [
            p
            for p in self.sim.control.state()["persons"]
            if not p.get("deleted") and p["personCode"] == code and p.get("orgIndexCode") == "2"
        ]
        if not held:
            note(f"{code} is not in HCP: nothing to edit")
            return
        person = held[0]
        try:
            with HikCentralClient(build_config(), clock_ms=real_clock_ms) as hand:
                HAND_EDITS[edit](hand, person["personId"], person)
                if applies:
                    doors = [door.door_index_code for door in hand.list_doors()]
                    hand.reapply(person_ids=[person["personId"]], door_index_codes=doors)
        except HikCentralError as exc:  # HCP is failing: the edit may or may not have happened
            note(f"by hand: {edit} {code} failed: {exc}")
            return
        note(
            f"by hand: {edit} {code} (HCP person {person['personId']})"
            f"{'' if applies else ', left unapplied'}"
        )

    @rule(visit_id=visits, hold=st.booleans())
    def security_acts(self, visit_id: int, hold: bool) -> None:
        """Security revokes the visitor's access now (a hold), or restores it."""
        visitor = self.visit(visit_id).visitor
        act = access_services.revoke_now if hold else access_services.restore
        changed = act(visitor=visitor, actor=self.security, reason="Checked by security")
        note(f"{'hold' if hold else 'restore'} {visitor.person_code}: changed={changed}")

    @rule()
    def hcp_recovers(self) -> None:
        self.sim.control.clear_faults()

    @rule()
    def everything_converges(self) -> None:
        """Mid-sequence: faults cleared, the engine converges and the invariants hold."""
        self.check_after_convergence()

    # --- the check ----------------------------------------------------------------------

    def check_after_convergence(self) -> None:
        """Faults cleared, the engine converges; after edits made by hand in HCP, beat's
        periodic full sync runs and the engine converges again, until the sync finds nothing
        (a person a dead worker still held was left to its work). Then the invariants, and a
        dry-run sync that must agree that HCP is as desired."""
        self.sim.control.clear_faults()
        syncs = 0
        while True:
            wait_out_open_breaker(self.move_clock_to)
            if self.edited_by_hand:
                report = full_sync(client=self.hcp)  # beat's periodic sync repairs the drift
                syncs += 1
                note(f"sync {syncs}: {report.summary()}")
            done = converge(self.hcp, self.sim, move_clock_to=self.move_clock_to)
            note(f"converged in {len(done.runs)} run(s), {done.waited_seconds:.0f} s waited")
            check = full_sync(client=self.hcp, dry_run=True)
            if not (self.edited_by_hand and check.drift and syncs < MAX_SYNCS):
                break
        self.edited_by_hand = False
        problems = engine_problems(self.sim, self.outsiders)
        problems += [f"the full sync finds drift: {drift.describe()}" for drift in check.drift]
        problems += [f"the full sync could not read HCP: {error}" for error in check.errors]
        assert not problems, "\n".join(["after convergence:", *problems])

    def teardown(self) -> None:
        try:
            if sys.exc_info()[1] is None:  # a step failed: that is the failure to report
                self.check_after_convergence()
        finally:
            self.sim.control.clear_faults()
            self.hcp.close()
            self.travel.stop()
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)


_examples = itertools.count(1)


def _local(moment: datetime) -> str:
    return moment.astimezone(ALMATY).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.timeout(120 + 60 * EXAMPLES)
def test_random_visits_crashes_and_faults_converge_to_exactly_the_desired_state(
    site: SimulatorHandle,
    hcp_settings: Any,
    reception: User,
    host: User,
    security: User,
    guest_policy: AccessLevelPolicy,
    student_policy: AccessLevelPolicy,
    vip_policy: AccessLevelPolicy,
    tmp_path: Path,
) -> None:
    hcp_settings.HCP_READ_TIMEOUT = READ_TIMEOUT
    machine = VisitsCrashesAndFaults
    machine.sim = site
    machine.reception = reception
    machine.host = host
    machine.security = security
    machine.policies = {"guest": guest_policy, "student": student_policy, "vip": vip_policy}
    machine.django_settings = hcp_settings
    machine.tmp_path = tmp_path
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            print_blob=True,
            # The normal suite runs the same examples every time; a longer run explores.
            derandomize="PROPUSK_STATEFUL_EXAMPLES" not in os.environ,
        ),
    )


# --- what the stateful test found, step by step ------------------------------------------------


def test_a_revocation_waiting_through_a_worker_outage_is_still_confirmed(
    site: SimulatorHandle,
    register: Callable[..., Visit],
    drain: Callable[..., Any],
    confirm: Callable[..., Any],
    desk: Client,
    settings: Any,
) -> None:
    """A revocation is sent to HCP and waits for the devices; every worker then stops for
    longer than the application timeout while a new visitor is registered. When the workers
    return, the new visitor's reapplication is still being applied (HCP's counts say
    "applying") at the first check: the revocation, applied long ago, must not be given up
    as "not known" - its time to revoke would never be recorded."""
    revoked = register(family_name="Akhmetova")
    drain()
    site.control.advance_clock(APPLY_DELAY + 1)
    confirm()
    desk.post(reverse("visits:cancel", args=[revoked.pk]))
    drain()
    assert HcpPerson.objects.get(person_code=revoked.visitor.person_code).apply_state == (
        ApplyState.WAITING
    )
    register(family_name="Seitkali")  # while every worker is down
    back = timezone.now() + timedelta(seconds=settings.PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS + 60)
    site.control.set_clock(back)

    drain(now=back)
    site.control.advance_clock(APPLY_DELAY + 1)
    drain(now=back + timedelta(seconds=3))

    code = revoked.visitor.person_code
    assert not site.control.passage("1", person_code=code).granted  # the devices have it
    assert HcpPerson.objects.get(person_code=code).apply_state == ApplyState.APPLIED
    revoked.refresh_from_db()
    assert revoked.access_revoked_at is not None


def test_a_change_left_unapplied_in_hcp_by_someone_else_does_not_stop_our_confirmations(
    site: SimulatorHandle,
    register: Callable[..., Visit],
    drain: Callable[..., Any],
    desk: Client,
    hcp: HikCentralClient,
    settings: Any,
) -> None:
    """An HCP operator adds an employee to an access level in HCP's own client and does not
    apply it to the devices (HCP then counts a change waiting, for ever). A visitor is enrolled,
    then cancelled: the devices apply our revocation within a second. The engine must still
    confirm it (and record the time to revoke), not wait for the operator's change and give up.
    """
    begin = timezone.now().replace(microsecond=0)
    staff_id = hcp.add_person(
        PersonInput(
            person_code="E1001",
            org_index_code="3",
            family_name="Bekova",
            given_name="Zhanna",
            begin_time=begin - timedelta(days=30),
            end_time=begin + timedelta(days=300),
        )
    )
    hcp.add_persons_to_access_level("1", [staff_id])  # never applied to the devices
    visit = register(family_name="Akhmetova")
    drain()
    site.control.advance_clock(APPLY_DELAY + 1)
    desk.post(reverse("visits:cancel", args=[visit.pk]))
    moment = timezone.now()
    drain(now=moment)
    site.control.advance_clock(APPLY_DELAY + 1)

    for seconds in (3, 30, settings.PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS + 30):
        drain(now=moment + timedelta(seconds=seconds))  # the sweep looks again

    code = visit.visitor.person_code
    assert not site.control.passage("1", person_code=code).granted  # the devices have it
    assert HcpPerson.objects.get(person_code=code).apply_state == ApplyState.APPLIED
    visit.refresh_from_db()
    assert visit.access_revoked_at is not None
