"""What the stateful test of the access engine (test_stateful.py) needs besides its rules: the
site's people, registering over HTTP, the staff HCP holds besides our visitors, letting the
engine converge as workers and the sweep would while time passes, and the invariants checked
afterwards against the simulator's own state and its turnstile.

Every check returns the problems it finds as sentences naming the person code and what differs,
so a failing sequence says what went wrong, not only that something did.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient, PersonInput
from propusk.access.desired import desired_state
from propusk.access.models import AccessWork, ApplyState, HcpPerson, WorkState
from propusk.access.reconciler import ReconcileResult, reconcile_due_work
from propusk.integrations.hikcentral.breaker import build_circuit_breaker
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests.factories import make_iin, make_jpeg

from .conftest import (
    ADMINISTRATION,
    ENTRANCE,
    GUEST_LEVEL,
    OUR_ORG,
    STAFF_ORG,
    VIP_LEVEL,
    local,
    photo_upload,
)


def real_clock_ms() -> int:
    """The real time for request signatures: the gateway compares ``X-Ca-Timestamp`` with its
    own real clock, whatever time the test has travelled to (the simulator's clock is moved
    separately, through its control API)."""
    return time_machine.escape_hatch.time.time_ns() // 1_000_000


class WorkerKilled(BaseException):
    """The worker process is killed at this point (SIGKILL, out of memory): nothing of the
    run after it happens. A BaseException, as nothing in the engine may catch a kill."""


# --- the site's people -----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    family_name: str
    given_name: str
    iin: str  # "" for a foreign guest without a Kazakh ID number: a new visitor every time

    def __str__(self) -> str:
        return self.family_name


PEOPLE = (
    Person("Nurlanova", "Aigerim", make_iin("95031240123")),
    Person("Seitkali", "Daulet", make_iin("88072530456")),
    Person("Omarov", "Yerlan", make_iin("01041750789")),
    Person("Akhmetova", "Dana", make_iin("79120140321")),
    Person("Müller", "Anna", ""),
)


@dataclass
class Outsiders:
    """The site's own persons (staff, in another organisation), some of them members of the
    access levels our visitors get; the engine must never change them or their memberships."""

    persons: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def seed(cls, sim: SimulatorHandle, hcp: HikCentralClient, now: datetime) -> Outsiders:
        staff = [
            ("E1001", "Bekova", "Zhanna", GUEST_LEVEL),
            ("E1002", "Zhaksylykov", "Marat", VIP_LEVEL),
            # An employee whose badge code happens to start like ours, in the staff organisation.
            ("V0000STAFF01", "Ibraeva", "Saule", GUEST_LEVEL),
        ]
        ids: list[str] = []
        for code, family, given, level in staff:
            person_id = hcp.add_person(
                PersonInput(
                    person_code=code,
                    org_index_code=STAFF_ORG,
                    family_name=family,
                    given_name=given,
                    begin_time=(now - timedelta(days=30)).replace(microsecond=0),
                    end_time=(now + timedelta(days=300)).replace(microsecond=0),
                    remark="staff",
                ),
                face_jpeg=make_jpeg(240, 240, (70, 90, 110 + len(ids))),
            )
            hcp.add_persons_to_access_level(level, [person_id])
            ids.append(person_id)
        doors = [door.door_index_code for door in hcp.list_doors()]
        hcp.reapply(person_ids=ids, door_index_codes=doors)
        sim.control.advance_clock(2)  # the devices hold the staff before any visitor comes
        sim.control.set_clock(now)
        return cls.read(sim.control.state())

    @classmethod
    def read(cls, state: dict[str, Any]) -> Outsiders:
        persons = {
            p["personId"]: p
            for p in state["persons"]
            if not p.get("deleted") and p.get("orgIndexCode") != OUR_ORG
        }
        members = {
            level["privilegeGroupId"]: {pid for pid in level["personIds"] if pid in persons}
            for level in state["accessLevels"]
        }
        return cls(persons=persons, members=members)

    def changes(self, state: dict[str, Any]) -> list[str]:
        now = Outsiders.read(state)
        problems = []
        for person_id in sorted(set(self.persons) | set(now.persons)):
            before, after = self.persons.get(person_id), now.persons.get(person_id)
            if before != after:
                code = (before or after or {}).get("personCode")
                problems.append(f"outside person {code} ({person_id}) changed: {before} -> {after}")
        for level in sorted(set(self.members) | set(now.members)):
            if self.members.get(level, set()) != now.members.get(level, set()):
                problems.append(
                    f"outside members of level {level} changed: "
                    f"{sorted(self.members.get(level, set()))} -> "
                    f"{sorted(now.members.get(level, set()))}"
                )
        return problems


# --- registering over HTTP -------------------------------------------------------------------


def browser(user: User) -> Client:
    """A signed-in browser (again at every action: the clock may have moved past a session)."""
    client = Client()
    client.force_login(user)
    return client


def register_over_http(
    user: User,
    *,
    host: User,
    person: Person,
    photo: bytes,
    start: datetime | None,
    minutes: int,
    kind: str,
    policy_pk: int | None,
) -> tuple[Visit | None, str]:
    """The registration page as ``user`` fills it in: a walk-in (``start`` None) or a planned
    visit. The visit made, or None and why the page refused."""
    data: dict[str, Any] = {
        "submission_token": str(uuid.uuid4()),
        "kind": kind,
        "host": str(host.pk),
        "purpose": "Seminar",
        "access_policy": str(policy_pk) if policy_pk else "",
        "visitor-family_name": person.family_name,
        "visitor-given_name": person.given_name,
        "visitor-phone": "+7 701 234 56 78",
        "visitor-national_id": person.iin,
        "visitor-consent": "on",
        "visitor-photo": photo_upload(photo),
    }
    if start is None:
        data.update(mode="now", duration=str(minutes))
    else:
        data.update(
            mode="later",
            planned_start=local(start),
            planned_end=local(start + timedelta(minutes=minutes)),
        )
    response = browser(user).post(reverse("visits:register"), data)
    if response.status_code != 302:
        form_errors = [
            f"{name}: {' '.join(errors)}"
            for form in ("form", "visitor_form")
            if response.context and response.context.get(form) is not None
            for name, errors in response.context[form].errors.items()
        ]
        return None, f"HTTP {response.status_code} {'; '.join(form_errors)}"
    visit_id = int(response["Location"].rstrip("/").split("/")[-1])
    return Visit.objects.get(pk=visit_id), ""


# --- converging ----------------------------------------------------------------------------


MAX_CONVERGE_RUNS = 60
DEVICES_CATCH_UP = timedelta(seconds=5)
STALLED_RUNS = 3  # runs that changed nothing before waiting out the devices' timeout


@dataclass
class Convergence:
    runs: list[ReconcileResult] = field(default_factory=list)
    waited_seconds: float = 0.0


def converge(
    hcp: HikCentralClient,
    sim: SimulatorHandle,
    *,
    move_clock_to: Callable[[datetime], None],
) -> Convergence:
    """Faults cleared, run the reconciler as workers and the sweep would while time passes,
    until no work is due, retried, leased by a dead worker or waiting for the devices, and a
    last run (the sweep's next) finds nothing more to do (e.g. a deletion after the retention).

    Work due later only because an access window opens or closes then is converged state: it
    stays. ``move_clock_to`` moves our clock and the simulator's together.
    """
    sim.control.clear_faults()
    done = Convergence()
    stalled = 0  # runs in a row that changed nothing
    for _ in range(MAX_CONVERGE_RUNS):
        result = reconcile_due_work(client=hcp)
        done.runs.append(result)
        now = timezone.now()
        progressed = result.reconciled or result.applied or result.apply_failed or result.retried
        stalled = 0 if progressed else stalled + 1
        wake = _next_wake(now, patient=stalled >= STALLED_RUNS)
        if wake is None and stalled:  # the sweep's next run would find nothing to do either
            return done
        if wake is None:
            continue
        if wake > now:
            done.waited_seconds += (wake - now).total_seconds()
            move_clock_to(wake)
    raise AssertionError(
        f"the engine did not converge in {MAX_CONVERGE_RUNS} runs "
        f"({done.waited_seconds:.0f} s waited); last runs: {done.runs[-3:]}; "
        f"work: {_work_rows()}; waiting: {_unsettled_persons()}"
    )


def wait_out_open_breaker(move_clock_to: Callable[[datetime], None]) -> None:
    """HCP is back, but the circuit breaker opened by its faults still pauses our calls: time
    passes until its cool-down lets a probe through (the sweep's next run would be then)."""
    state = build_circuit_breaker().state()
    if state.state == "open" and state.retry_at is not None:
        move_clock_to(state.retry_at.replace(microsecond=0) + timedelta(seconds=1))


def _next_wake(now: datetime, *, patient: bool) -> datetime | None:
    """When the engine has something left to do that is not a window boundary: now (work due),
    a lease's expiry, a retry's due time, the next look at the devices (``patient``: after
    runs that changed nothing, the moment the engine stops waiting for them). None:
    converged."""
    pending = AccessWork.objects.filter(state=WorkState.PENDING)
    moments: list[datetime] = []
    for row in pending:
        leased = row.leased_until is not None and row.leased_until > now
        if row.due_at <= now:
            moments.append(row.leased_until if leased and row.leased_until else now)
        elif leased and row.leased_until is not None:
            moments.append(row.leased_until)
        elif row.attempts or row.last_error_code:
            moments.append(row.due_at)
    unsettled = HcpPerson.objects.filter(
        Q(apply_state__in=[ApplyState.WAITING, ApplyState.FAILED]) | Q(needs_reapply=True)
    ).exclude(person_id="")
    check = timedelta(seconds=settings.PROPUSK_ACCESS_APPLY_CHECK_SECONDS + 1)
    give_up = timedelta(seconds=settings.PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS)
    for person in unsettled:
        if person.apply_state == ApplyState.WAITING:
            moment = now + check
            if patient and person.apply_requested_at is not None:
                moment = max(moment, person.apply_requested_at + give_up)
            moments.append(moment)
        elif person.apply_state == ApplyState.FAILED:
            # Failed on a device: reapplied when its work row comes due (the retry after
            # PROPUSK_ACCESS_APPLY_RETRY_SECONDS). With no row, nothing will: the invariants
            # report it.
            retry = pending.filter(person_code=person.person_code).first()
            if retry is not None and retry.due_at > now:
                moments.append(retry.due_at)
        # Changed and not yet reapplied: its work row (above) says when it is tried again.
    if not moments:
        return None
    wake = min(moments)
    if wake.microsecond:  # whole seconds, as HCP keeps them
        wake = wake.replace(microsecond=0) + timedelta(seconds=1)
    return wake


def _work_rows() -> list[dict[str, Any]]:
    return [
        dict(row)
        for row in AccessWork.objects.values(
            "person_code",
            "state",
            "priority",
            "due_at",
            "attempts",
            "last_error_code",
            "leased_until",
        )
    ]


def _unsettled_persons() -> list[tuple[str, str, bool]]:
    return [
        (row.person_code, row.apply_state, row.needs_reapply)
        for row in HcpPerson.objects.exclude(apply_state=ApplyState.APPLIED)
    ]


# --- the invariants ------------------------------------------------------------------------


def _hcp_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def engine_problems(sim: SimulatorHandle, outsiders: Outsiders) -> list[str]:
    """Everything that is not as it must be once the engine has converged, at our clock's now:
    HCP holds exactly the desired state for every person of ours (validity, levels, face,
    applied on every door), one person per person code, nobody else touched, what we recorded
    is what HCP holds, no work failed or stuck, and the turnstile decides as the visits say."""
    now = timezone.now()
    # The devices finish what they were asked to apply (a second or so later, however the
    # engine judged it), then the simulator's clock is our now again: passages are decided at
    # ``now``.
    sim.control.set_clock(now + DEVICES_CATCH_UP)
    sim.control.set_clock(now)
    state = sim.control.state()
    problems = outsiders.changes(state)
    central = [p for p in state["persons"] if not p.get("deleted")]
    for code, count in Counter(p["personCode"] for p in central).items():
        if count > 1:
            problems.append(f"{count} HCP persons with person code {code}")
    ours = {p["personCode"]: p for p in central if p.get("orgIndexCode") == OUR_ORG}
    known = (
        set(Visitor.objects.values_list("person_code", flat=True))
        | set(HcpPerson.objects.values_list("person_code", flat=True))
        | set(AccessWork.objects.values_list("person_code", flat=True))
    )
    for code in sorted(set(ours) - known):
        problems.append(f"HCP holds {code} in our organisation, unknown to Propusk")
    for gone in (p for p in state["persons"] if p.get("deleted")):
        problems.append(f"person {gone['personId']} deleted in HCP but still on a device")
    for code in sorted(known):
        problems += _person_problems(code, ours.get(code), now)
    problems += _work_problems(now)
    problems += _time_to_revoke_problems(now)
    problems += turnstile_problems(sim, now)
    return problems


def _person_problems(code: str, held: dict[str, Any] | None, now: datetime) -> list[str]:
    desired = desired_state(code, now=now)
    confirmed = HcpPerson.objects.filter(person_code=code).first()
    wanted = desired.person
    if wanted is None:
        if held is None:
            return []
        problems = _record_problems(code, confirmed)
        if held["accessLevels"]:
            problems.append(f"{code}: no access wanted, HCP holds levels {held['accessLevels']}")
        end = _hcp_time(held.get("endTime"))
        if end is None or end > now:
            problems.append(f"{code}: no access wanted, HCP validity ends {held.get('endTime')}")
        return problems + _device_problems(code, held)
    if held is None:
        return [f"{code}: access wanted ({wanted.grant}), HCP has no such person"]
    problems = []
    grant = wanted.grant
    begin, end = _hcp_time(held.get("beginTime")), _hcp_time(held.get("endTime"))
    if (begin, end) != (_second(grant.begin), _second(grant.end)):
        problems.append(
            f"{code}: validity {held.get('beginTime')} .. {held.get('endTime')}, "
            f"wanted {grant.begin.isoformat()} .. {grant.end.isoformat()}"
        )
    if set(held["accessLevels"]) != set(grant.access_level_ids):
        problems.append(
            f"{code}: levels {sorted(held['accessLevels'])}, "
            f"wanted {sorted(grant.access_level_ids)}"
        )
    if not held.get("hasFace"):
        problems.append(f"{code}: access wanted with a face, HCP holds no face")
    name = f"{wanted.given_name} {wanted.family_name}"
    if held.get("personName") != name:
        problems.append(f"{code}: name {held.get('personName')!r}, wanted {name!r}")
    if confirmed is None:
        problems.append(f"{code}: HCP holds the person, Propusk recorded nothing")
    else:
        recorded = (confirmed.person_id, sorted(confirmed.access_level_ids), confirmed.face_version)
        actual = (held["personId"], sorted(held["accessLevels"]), wanted.face_version)
        if recorded != actual:
            problems.append(f"{code}: recorded {recorded}, HCP holds {actual}")
        problems += _record_problems(code, confirmed)
    return problems + _device_problems(code, held)


def _record_problems(code: str, confirmed: HcpPerson | None) -> list[str]:
    """What Propusk records of a person HCP holds must say the devices have it."""
    if confirmed is None:
        return []
    problems = []
    if confirmed.apply_state != ApplyState.APPLIED:
        problems.append(f"{code}: recorded as {confirmed.apply_state} on the devices")
    if confirmed.needs_reapply:
        problems.append(f"{code}: recorded as changed and not yet reapplied")
    return problems


def _device_problems(code: str, held: dict[str, Any]) -> list[str]:
    return [
        f"{code}: door {door} is {record['status']}, not applied"
        for door, record in sorted(held.get("doors", {}).items())
        if record["status"] != "applied"
    ]


def _work_problems(now: datetime) -> list[str]:
    problems = []
    for row in AccessWork.objects.all():
        if row.state == WorkState.FAILED:
            problems.append(
                f"{row.person_code}: work failed {row.last_error_code} {row.last_error_message}"
            )
        elif row.due_at <= now:
            problems.append(f"{row.person_code}: work due since {row.due_at} not done")
        if row.leased_until is not None and row.leased_until > now:
            problems.append(f"{row.person_code}: work still leased until {row.leased_until}")
    return problems


def _time_to_revoke_problems(now: datetime) -> list[str]:
    """Every visit whose access ended has its time to revoke measured once the devices hold it."""
    late = Visit.objects.filter(
        access_should_end_at__isnull=False,
        access_should_end_at__lte=now,
        access_revoked_at__isnull=True,
    )
    return [
        f"visit {visit.pk} ({visit.status}): access should have ended at "
        f"{visit.access_should_end_at}, no time to revoke recorded"
        for visit in late
    ]


def turnstile_problems(sim: SimulatorHandle, now: datetime) -> list[str]:
    """Each visitor shows their face at the main entrance (and the VIP-only door): let
    through exactly when one of their visits gives access now, by the levels it gives."""
    problems = []
    for visitor in Visitor.objects.all():
        desired = desired_state(visitor.person_code, now=now).person
        open_now = desired is not None and desired.grant.begin <= now < desired.grant.end
        face = _face(visitor)
        entrance = sim.control.passage(ENTRANCE, face_jpeg=face, at=now)
        if entrance.granted != open_now:
            problems.append(
                f"{visitor.person_code}: the entrance turnstile says {entrance.reason}, "
                f"the visits say {'open' if open_now else 'no access'} "
                f"({desired.grant if desired else None})"
            )
        if not open_now:
            by_code = sim.control.passage(ENTRANCE, person_code=visitor.person_code, at=now)
            if by_code.granted:
                problems.append(f"{visitor.person_code}: let through by person code, no access")
            continue
        assert desired is not None
        vip = VIP_LEVEL in desired.grant.access_level_ids
        admin = sim.control.passage(ADMINISTRATION, face_jpeg=face, at=now)
        if admin.granted != vip:
            problems.append(
                f"{visitor.person_code}: the VIP-only door says {admin.reason}, "
                f"levels {sorted(desired.grant.access_level_ids)}"
            )
    for code in HcpPerson.objects.exclude(
        person_code__in=Visitor.objects.values("person_code")
    ).values_list("person_code", flat=True):
        passage = sim.control.passage(ENTRANCE, person_code=code, at=now)
        if passage.granted:
            problems.append(f"{code}: visitor gone (merged), still let through")
    return problems


def _face(visitor: Visitor) -> bytes:
    with visitor.photo.open("rb") as stored:
        data: bytes = stored.read()
    return data
