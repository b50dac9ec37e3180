"""The reconciler against the real HCP simulator over HTTP: visits registered, cancelled,
checked out and expired through the site's pages; HCP's state and its turnstile checked through
the simulator's control API. Nothing here fakes HCP."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient, PersonInput
from propusk.access.models import (
    AccessLevelPolicy,
    AccessWork,
    ApplyState,
    HcpPerson,
    WorkPriority,
    WorkState,
)
from propusk.access.reconciler import (
    OUR_PERSON_CODE_PREFIX,
    ReconcileResult,
    reconcile_due_work,
)
from propusk.access.work import request_reconcile
from propusk.audit.models import AuditEntry
from propusk.integrations.hikcentral.factory import build_client, build_config
from propusk.visitors.models import Visitor, new_person_code
from propusk.visits.models import Visit
from propusk.visits.services import close_expired_visits
from tests.concurrency import run_together
from tests.factories import make_iin, make_jpeg

from .conftest import (
    ADMINISTRATION,
    APPLY_CHECK_AFTER,
    ENTRANCE,
    GUEST_LEVEL,
    OUR_ORG,
    STAFF_ORG,
    VIP_LEVEL,
    hcp_person,
    local,
    photo_upload,
)

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]


def hcp_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def engine_entries(action: str | None = None) -> list[AuditEntry]:
    entries = AuditEntry.objects.filter(actor_label="access-engine").order_by("pk")
    return list(entries.filter(action=action) if action else entries)


def assert_no_personal_data(*texts: str) -> None:
    for entry in engine_entries():
        dumped = json.dumps(entry.changes, ensure_ascii=False)
        for text in texts:
            assert text not in dumped, (entry.action, dumped)


# --- granting ----------------------------------------------------------------------------


def test_a_registered_visit_enrols_the_person_and_the_turnstile_lets_the_face_through(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain
) -> None:
    visit = register(minutes=120)
    code = visit.visitor.person_code
    work = AccessWork.objects.get(person_code=code)
    assert work.state == WorkState.PENDING

    result = drain()

    assert (result.reconciled, result.failed, result.retried) == (1, 0, 0)
    person = hcp_person(site, code)
    assert person["orgIndexCode"] == OUR_ORG
    assert person["hasFace"] is True
    assert person["accessLevels"] == [GUEST_LEVEL]
    begin = visit.planned_start - timedelta(minutes=visit.access_policy.early_arrival_minutes)
    end = visit.planned_end + timedelta(minutes=visit.access_policy.late_leave_minutes)
    assert hcp_time(person["beginTime"]) == begin.replace(microsecond=0)
    assert hcp_time(person["endTime"]) == end.replace(microsecond=0)
    passage = site.control.passage(ENTRANCE, person_code=code)
    assert (passage.granted, passage.reason) == (True, "granted")
    assert not site.control.passage(ADMINISTRATION, person_code=code).granted

    confirmed = HcpPerson.objects.get(person_code=code)
    assert confirmed.person_id == person["personId"]
    assert confirmed.access_level_ids == [GUEST_LEVEL]
    assert confirmed.face_version == visit.visitor.photo.name
    assert confirmed.apply_state == ApplyState.WAITING
    assert confirmed.revoked_at is None
    assert confirm().applied == 1
    confirmed.refresh_from_db()
    assert confirmed.apply_state == ApplyState.APPLIED
    # Kept, due when the window closes: the revocation happens on time with no ETA task.
    work.refresh_from_db()
    assert (work.due_at, work.priority, work.attempts) == (end, WorkPriority.REVOKE, 0)
    assert work.lease_token == ""

    added = engine_entries("hcp.person_added")
    assert [(e.target_type, e.target_id) for e in added] == [
        ("visitors.visitor", str(visit.visitor_id))
    ]
    assert added[0].changes["sent"]["person_code"] == code
    assert added[0].changes["answer"] == {"person_id": person["personId"]}
    membership = engine_entries("hcp.membership_added")[0]
    assert membership.changes["sent"]["access_level_ids"] == [GUEST_LEVEL]
    assert_no_personal_data("Nurlanova", "Aigerim", "701", "jpg")


def test_running_again_changes_nothing(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    visit = register()
    drain()
    before = hcp_person(site, visit.visitor.person_code)
    entries = len(engine_entries())
    request_reconcile(
        person_code=visit.visitor.person_code, visitor_id=visit.visitor_id, reason="again"
    )

    assert drain().reconciled == 1

    assert hcp_person(site, visit.visitor.person_code) == before
    assert len(engine_entries()) == entries  # no call changed anything in HCP


def test_a_window_in_the_future_is_set_ahead_and_its_work_is_due_at_the_change(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    start = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    visit = register(start=start, minutes=60)
    code = visit.visitor.person_code

    drain()

    person = hcp_person(site, code)
    assert hcp_time(person["beginTime"]) == start - timedelta(minutes=15)
    assert hcp_time(person["endTime"]) == start + timedelta(minutes=75)
    assert person["accessLevels"] == [GUEST_LEVEL]
    now_passage = site.control.passage(ENTRANCE, person_code=code)
    assert (now_passage.granted, now_passage.reason) == (False, "outside_validity")
    assert site.control.passage(ENTRANCE, person_code=code, at=start + timedelta(minutes=5)).granted
    work = AccessWork.objects.get(person_code=code)
    assert work.due_at == start + timedelta(minutes=75)
    assert work.priority == WorkPriority.REVOKE
    assert work.revoke_due_at == work.due_at


def test_two_policies_give_the_union_of_their_levels_while_both_windows_are_open(
    site: SimulatorHandle, register: Register, drain: Drain, vip_policy: AccessLevelPolicy
) -> None:
    iin = make_iin()
    first = register(national_id=iin, minutes=60)
    second = register(national_id=iin, minutes=240, policy=vip_policy)
    assert first.visitor_id == second.visitor_id

    drain()

    person = hcp_person(site, first.visitor.person_code)
    assert sorted(person["accessLevels"]) == [GUEST_LEVEL, VIP_LEVEL]
    assert site.control.passage(ADMINISTRATION, person_code=first.visitor.person_code).granted


@dataclass
class CountingLimiter:
    """Counts the HTTP requests the client sends, by priority (it asks before each one)."""

    priorities: list[str] = field(default_factory=list)

    def acquire(self, *, priority: str) -> None:
        self.priorities.append(priority)


def test_memberships_and_reapplication_are_batched_across_persons(
    site: SimulatorHandle, register: Register, hcp_settings: Any, desk: Client
) -> None:
    """Twenty new visitors cost one add each (no look-up: HcpPerson says they were never
    created), and for all of them together one addPersons and one reapplication; the
    organisation and the door list are read once per process (then remembered): 24 calls, 1.2
    per visitor, for the first burst of a process, 22 (1.1) for the next."""
    visits = [register(family_name=f"Guestova{n}") for n in range(20)]
    hcp_settings.PROPUSK_ACCESS_APPLY_CHECK_SECONDS = 3600  # no application check here
    limiter = CountingLimiter()
    with HikCentralClient(build_config(), rate_limiter=limiter) as client:
        result = reconcile_due_work(client=client)
        assert result.reconciled == 20
        assert limiter.priorities == ["grant"] * (1 + 20 + 1 + 1 + 1)
        assert len(limiter.priorities) / 20 == 1.2

        more = [register(family_name=f"Gostyeva{n}") for n in range(20)]
        limiter.priorities.clear()
        assert reconcile_due_work(client=client).reconciled == 20
        assert limiter.priorities == ["grant"] * (20 + 1 + 1)
        assert len(limiter.priorities) / 20 == 1.1

        for visit in visits[:5]:
            desk.post(reverse("visits:cancel", args=[visit.pk]))
        limiter.priorities.clear()
        # Each person twice: the revocation, then its validity end.
        assert reconcile_due_work(client=client).reconciled == 10
    # Revoked from the record: one deletePersons and one reapplication for the five, as
    # revocations - the devices are told after two calls. Then, at SYNC priority, per person
    # the look-up and the validity end (no reapplication: no device holds them).
    assert limiter.priorities == ["revoke"] * (1 + 1) + ["sync"] * (5 + 5)
    codes = sorted(p["personCode"] for p in site.control.state()["persons"])
    assert codes == sorted(visit.visitor.person_code for visit in visits + more)  # one each


# --- revoking ----------------------------------------------------------------------------


def test_a_revocation_from_the_record_of_a_person_deleted_by_hand_ends_clean(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    desk: Client,
    hcp: HikCentralClient,
) -> None:
    """The record says HCP holds the person with its level; someone deleted it by hand in
    HCP's client. The revocation from the record removes a membership of a person HCP no
    longer has ("not found": gone with it), tells the devices, and the look-up after it finds
    no person: no failure, no work left, the face refused."""
    visit = register()
    code = visit.visitor.person_code
    drain()
    confirm()
    hcp.delete_person(person_code=code)

    desk.post(reverse("visits:cancel", args=[visit.pk]))
    result = drain()
    confirm()

    assert (result.failed, result.retried) == (0, 0)
    assert not AccessWork.objects.filter(person_code=code).exists()
    assert not [p for p in site.control.state()["persons"] if p.get("personCode") == code]
    assert not site.control.passage(ENTRANCE, person_code=code).granted
    visit.refresh_from_db()
    assert visit.access_revoked_at is not None


def _check_in(desk: Client, visit: Visit) -> None:
    desk.post(reverse("visits:check_in", args=[visit.pk]))
    visit.refresh_from_db()
    assert visit.status == "checked_in"


@pytest.mark.parametrize("how", ["cancel", "check_out"])
def test_cancel_and_check_out_revoke_and_the_turnstile_refuses(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, desk: Client, how: str
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    assert site.control.passage(ENTRANCE, person_code=code).granted
    if how == "check_out":
        _check_in(desk, visit)
    desk.post(reverse(f"visits:{how}", args=[visit.pk]))
    visit.refresh_from_db()
    assert visit.access_should_end_at is not None
    work = AccessWork.objects.get(person_code=code)
    assert work.priority == WorkPriority.REVOKE

    drain()
    confirm()

    passage = site.control.passage(ENTRANCE, person_code=code)
    assert not passage.granted
    person = hcp_person(site, code)  # kept until the cleanup after the retention
    assert person["accessLevels"] == []
    assert hcp_time(person["endTime"]) <= timezone.now()
    assert not AccessWork.objects.filter(person_code=code).exists()
    confirmed = HcpPerson.objects.get(person_code=code)
    assert confirmed.access_level_ids == []
    assert confirmed.revoked_at is not None
    assert confirmed.apply_state == ApplyState.APPLIED
    visit.refresh_from_db()
    assert visit.access_revoked_at is not None
    assert visit.access_revoked_at >= visit.access_should_end_at
    assert [
        e.changes["sent"]["access_level_ids"] for e in engine_entries("hcp.membership_removed")
    ] == [[GUEST_LEVEL]]
    assert len(engine_entries("hcp.access_revoked")) == 1


def test_a_revocation_refused_over_hcps_quota_is_tried_again_within_half_a_second(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, desk: Client
) -> None:
    # The devices must drop the face in seconds: a revocation HCP refused over its call quota
    # does not wait out the 5-10 s backoff of a failing server.
    visit = register()
    code = visit.visitor.person_code
    drain()
    desk.post(reverse("visits:cancel", args=[visit.pk]))
    site.control.add_fault(
        "http", path="/api/acs/v1/privilege/group/single/deletePersons", status=429, count=1
    )
    moment = timezone.now()

    result = drain(now=moment)

    assert (result.reconciled, result.retried) == (0, 1)
    work = AccessWork.objects.get(person_code=code)
    assert work.priority == WorkPriority.REVOKE
    assert work.attempts == 1
    assert 0.2 <= (work.due_at - moment).total_seconds() <= 0.5
    assert 0.2 <= result.revocation_retry_in <= 0.5  # the task runs again then

    drain(now=work.due_at)
    confirm(now=work.due_at)
    assert not site.control.passage(ENTRANCE, person_code=code).granted
    assert hcp_person(site, code)["accessLevels"] == []


def test_a_grant_refused_over_hcps_quota_backs_off_as_usual(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    visit = register()
    code = visit.visitor.person_code
    site.control.add_fault(
        "http", path="/api/acs/v1/privilege/group/single/addPersons", status=429, count=1
    )
    moment = timezone.now()

    result = drain(now=moment)

    assert (result.reconciled, result.retried, result.revocation_retry_in) == (0, 1, 0.0)
    work = AccessWork.objects.get(person_code=code)
    assert (work.due_at - moment).total_seconds() == 5  # the minimum backoff


def test_expiry_revokes_on_time_through_the_work_due_at_the_window_end(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain
) -> None:
    visit = register(minutes=30)
    code = visit.visitor.person_code
    drain()
    window_end = AccessWork.objects.get(person_code=code).due_at
    later = window_end + timedelta(minutes=1)
    site.control.set_clock(later)
    # The turnstile itself refuses after the validity HCP holds, before anything of ours runs.
    assert site.control.passage(ENTRANCE, person_code=code).reason == "outside_validity"

    assert drain(now=later).reconciled == 2  # the revocation, then its validity end

    assert hcp_person(site, code)["accessLevels"] == []
    assert not site.control.passage(ENTRANCE, person_code=code).granted
    # The beat task closes the visit; the visit's time to revoke ends with the next run.
    close_expired_visits(now=later)
    confirm(now=later)
    visit.refresh_from_db()
    assert visit.status == "no_show"
    assert visit.access_should_end_at == window_end
    assert visit.access_revoked_at == later + APPLY_CHECK_AFTER
    assert not AccessWork.objects.filter(person_code=code).exists()


def test_two_overlapping_visits_one_cancelled_still_let_the_face_through(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, desk: Client
) -> None:
    iin = make_iin()
    short = register(national_id=iin, minutes=60)
    long = register(national_id=iin, minutes=240)
    code = short.visitor.person_code
    assert long.visitor.person_code == code
    drain()

    desk.post(reverse("visits:cancel", args=[long.pk]))
    drain()
    confirm()

    assert site.control.passage(ENTRANCE, person_code=code).granted
    person = hcp_person(site, code)
    assert person["accessLevels"] == [GUEST_LEVEL]
    assert hcp_time(person["endTime"]) == (short.planned_end + timedelta(minutes=15)).replace(
        microsecond=0
    )
    long.refresh_from_db()
    assert long.access_revoked_at is not None  # its access no longer counts on the devices
    assert AccessWork.objects.get(person_code=code).priority == WorkPriority.REVOKE


def test_a_merged_visitor_has_its_person_revoked(
    daytime_site: SimulatorHandle, register: Register, drain: Drain, desk: Client, host: Any
) -> None:
    site = daytime_site  # the host's visit half an hour ahead is within reception's day
    iin = make_iin()
    stored = register(national_id=iin, minutes=60).visitor
    # The host registers the same ID number: a new record, checked at the desk on arrival.
    host_browser = Client()
    host_browser.force_login(host)
    start = (timezone.now() + timedelta(minutes=30)).replace(second=0, microsecond=0)
    response = host_browser.post(
        reverse("visits:register"),
        {
            "submission_token": "8d3d1f0e-7f4b-4c38-9a67-2f6e5b1f3c11",
            "mode": "later",
            "kind": "guest",
            "planned_start": local(start),
            "planned_end": local(start + timedelta(hours=1)),
            "purpose": "Seminar",
            "visitor-family_name": "Nurlanova",
            "visitor-given_name": "Aigerim",
            "visitor-phone": "+7 701 234 56 78",
            "visitor-national_id": iin,
            "visitor-consent": "on",
            "visitor-photo": photo_upload(make_jpeg()),
        },
    )
    assert response.status_code == 302
    claimant_visit = Visit.objects.exclude(visitor=stored).get()
    claimant_code = claimant_visit.visitor.person_code
    drain()
    assert hcp_person(site, claimant_code)["accessLevels"] == [GUEST_LEVEL]

    desk.post(reverse("visits:identity", args=[claimant_visit.pk]), {"decision": "same_keep"})
    assert not Visitor.objects.filter(person_code=claimant_code).exists()
    drain()

    merged = hcp_person(site, claimant_code)
    assert merged["accessLevels"] == []
    assert not site.control.passage(ENTRANCE, person_code=claimant_code).granted
    assert site.control.passage(ENTRANCE, person_code=stored.person_code).granted
    revoked = engine_entries("hcp.access_revoked")
    assert [(e.target_type, e.changes["sent"]["person_code"]) for e in revoked] == [
        ("access.hcpperson", claimant_code)
    ]


# --- faces -------------------------------------------------------------------------------


def test_a_new_face_is_enrolled_again(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    iin = make_iin()
    visit = register(national_id=iin, photo=make_jpeg(color=(200, 160, 140)))
    with visit.visitor.photo.open("rb") as stored:
        first_face = stored.read()
    drain()
    assert site.control.passage(ENTRANCE, face_jpeg=first_face).granted

    again = register(national_id=iin, photo=make_jpeg(color=(90, 120, 200)), minutes=30)
    assert again.visitor_id == visit.visitor_id
    with again.visitor.photo.open("rb") as stored:
        second_face = stored.read()
    drain()

    assert site.control.passage(ENTRANCE, face_jpeg=second_face).granted
    assert site.control.passage(ENTRANCE, face_jpeg=first_face).reason == "face_not_matched"
    assert len(engine_entries("hcp.face_updated")) == 1
    assert HcpPerson.objects.get(person_code=again.visitor.person_code).face_version == (
        again.visitor.photo.name
    )


def test_a_face_hcp_refuses_is_recorded_and_the_rest_goes_on(
    site: SimulatorHandle, register: Register, drain: Drain, settings: Any
) -> None:
    refused = register(family_name="Akhmetova")
    accepted = register(family_name="Seitkali")
    # A face HCP cannot use (the simulator, like HCP, refuses faces under 16 pixels).
    with open(settings.MEDIA_ROOT / "faces" / refused.visitor.photo.name, "wb") as face:
        face.write(make_jpeg(8, 8))

    result = drain()

    assert (result.reconciled, result.failed, result.retried) == (2, 0, 0)
    code = refused.visitor.person_code
    confirmed = HcpPerson.objects.get(person_code=code)
    assert "faceData" in confirmed.face_rejected_reason
    person = hcp_person(site, code)
    assert (person["hasFace"], person["accessLevels"]) == (False, [GUEST_LEVEL])
    assert site.control.passage(ENTRANCE, person_code=code).reason == "no_face"
    assert site.control.passage(ENTRANCE, person_code=accepted.visitor.person_code).granted
    assert AccessWork.objects.get(person_code=code).state == WorkState.PENDING  # not failed
    rejected = engine_entries("hcp.face_rejected")
    assert [e.changes["sent"]["person_code"] for e in rejected] == [code]

    request_reconcile(person_code=code, visitor_id=refused.visitor_id, reason="again")
    drain()
    assert len(engine_entries("hcp.face_rejected")) == 1  # the same file is not sent again


# --- failures ----------------------------------------------------------------------------


def test_a_lost_answer_to_add_is_looked_up_never_added_twice(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    visit = register()
    code = visit.visitor.person_code
    site.control.add_fault("lost_response", path="/api/resource/v1/person/single/add", count=1)

    result = drain()

    assert (result.reconciled, result.retried) == (1, 0)
    person = hcp_person(site, code)  # exactly one
    assert person["accessLevels"] == [GUEST_LEVEL]
    assert site.control.passage(ENTRANCE, person_code=code).granted
    added = engine_entries("hcp.person_added")
    assert [e.changes["answer"] for e in added] == [
        {"person_id": person["personId"], "answer_lost": True}
    ]


def test_a_lost_answer_and_a_failed_look_up_retry_later_and_still_make_one_person(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    visit = register()
    code = visit.visitor.person_code
    site.control.add_fault("lost_response", path="/api/resource/v1/person/single/add", count=1)
    site.control.add_fault("http", path="/api/resource/v1/person/personCode/*", status=503)

    first = drain()
    assert (first.reconciled, first.retried) == (0, 1)
    site.control.clear_faults()
    work = AccessWork.objects.get(person_code=code)
    drain(now=work.due_at)

    hcp_person(site, code)
    assert site.control.passage(ENTRANCE, person_code=code).granted


def test_server_errors_and_timeouts_are_retried_with_backoff_until_converged(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    visit = register()
    code = visit.visitor.person_code
    site.control.add_fault("http", path="/api/resource/v1/person/personCode/*", status=503, count=1)
    site.control.add_fault(
        "timeout", path="/api/acs/v1/privilege/group/single/addPersons", seconds=3, count=1
    )
    moment = timezone.now()
    delays = []
    errors = []

    for attempt in (1, 2):
        result = drain(now=moment)
        assert (result.reconciled, result.retried, result.failed) == (0, 1, 0)
        work = AccessWork.objects.get(person_code=code)
        assert work.attempts == attempt
        assert work.state == WorkState.PENDING
        assert work.lease_token == ""
        delays.append((work.due_at - moment).total_seconds())
        errors.append(work.last_error_code)
        moment = work.due_at
    # The first run adds (a new person needs no look-up) and times out on addPersons; the
    # second looks the person up (HCP may hold it now) and meets the 503.
    assert errors == ["HCPTimeout", "HCPServerError"]

    assert drain(now=moment).reconciled == 1

    assert delays[0] == 5  # the first retry waits the minimum
    assert 5 <= delays[1] <= 10
    person = hcp_person(site, code)
    assert person["accessLevels"] == [GUEST_LEVEL]
    assert site.control.passage(ENTRANCE, person_code=code).granted
    assert len(engine_entries("hcp.person_added")) == 1


def test_a_permanent_error_fails_that_work_visibly_and_the_others_go_on(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp: HikCentralClient
) -> None:
    first = register(family_name="Akhmetova")
    second = register(family_name="Seitkali")
    site.control.add_fault(
        "code",
        path="/api/resource/v1/person/single/add",
        count=1,
        code="132",
        msg="The maximum number of resources is reached.",
    )

    result = drain()

    assert (result.reconciled, result.failed, result.retried) == (1, 1, 0)
    failed = AccessWork.objects.get(state=WorkState.FAILED)
    assert failed.last_error_code == "132"
    assert "maximum number" in failed.last_error_message
    ok_code = ({first.visitor.person_code, second.visitor.person_code} - {failed.person_code}).pop()
    assert site.control.passage(ENTRANCE, person_code=ok_code).granted
    assert not [p for p in site.control.state()["persons"] if p["personCode"] == failed.person_code]
    entry = engine_entries("hcp.work_failed")[0]
    assert entry.changes["code"] == "132"
    assert drain().reconciled == 0  # failed work is not retried by itself

    # A new change puts it back: the desk moves the end of the visit.
    visit = Visit.objects.get(visitor__person_code=failed.person_code)
    desk.post(
        reverse("visits:change_window", args=[visit.pk]),
        {
            "window-planned_start": local(visit.planned_start),
            "window-planned_end": local(visit.planned_end + timedelta(hours=1)),
        },
    )
    assert AccessWork.objects.get(person_code=failed.person_code).state == WorkState.PENDING
    drain()
    assert site.control.passage(ENTRANCE, person_code=failed.person_code).granted


def test_an_access_level_hcp_does_not_know_fails_only_the_persons_who_need_it(
    site: SimulatorHandle, register: Register, drain: Drain, guest_policy: AccessLevelPolicy
) -> None:
    """One batch, one membership call for level 1 and one for the unknown level: the error
    lands on the person of the misconfigured policy; the other is enrolled."""
    misconfigured = AccessLevelPolicy.objects.create(
        key="library", name="Library", hcp_access_level_ids=["99"]
    )
    broken = register(family_name="Akhmetova", policy=misconfigured)
    fine = register(family_name="Seitkali", policy=guest_policy)

    result = drain()

    assert (result.reconciled, result.failed) == (1, 1)
    work = AccessWork.objects.get(person_code=broken.visitor.person_code)
    assert (work.state, work.last_error_code) == (WorkState.FAILED, "128")
    assert "HCP error 128" in work.last_error_message
    assert site.control.passage(ENTRANCE, person_code=fine.visitor.person_code).granted
    # HCP holds the person of the failed work; what it may hold is recorded for the retry.
    assert HcpPerson.objects.get(person_code=broken.visitor.person_code).needs_reapply


def test_a_refused_batch_call_is_asked_again_person_by_person(
    site: SimulatorHandle, register: Register, drain: Drain
) -> None:
    """HCP refuses a whole membership call when one of its persons is unknown: the batch is
    asked again one person at a time, so only that person's work could fail."""
    visits = [register(family_name=name) for name in ("Akhmetova", "Seitkali", "Omarova")]
    site.control.add_fault(
        "code",
        path="/api/acs/v1/privilege/group/single/addPersons",
        count=1,
        code="128",
        msg="The requested resource does not exist.",
    )

    result = drain()

    assert (result.reconciled, result.failed) == (3, 0)
    for visit in visits:
        assert site.control.passage(ENTRANCE, person_code=visit.visitor.person_code).granted


class WorkerKilled(BaseException):
    """Stands for a worker process dying (not an error the engine could handle)."""


def test_a_worker_dying_between_a_change_and_the_reapplication_leaves_it_to_the_next_run(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp_settings: Any
) -> None:
    """HCP holds the changed validity, but the devices were never told: the next reconcile
    finds nothing to change in HCP and must still reapply."""
    visit = register(minutes=60)
    code = visit.visitor.person_code
    drain()
    new_end = (visit.planned_end + timedelta(hours=2)).replace(second=0, microsecond=0)
    desk.post(
        reverse("visits:change_window", args=[visit.pk]),
        {
            "window-planned_start": local(visit.planned_start),
            "window-planned_end": local(new_end),
        },
    )

    def die_after_update(path: str, data: object) -> None:
        if path.endswith("/person/single/update"):
            raise WorkerKilled(path)

    with (
        build_client(response_observer=die_after_update) as dying,
        pytest.raises(WorkerKilled),
    ):
        reconcile_due_work(client=dying)
    assert hcp_time(hcp_person(site, code)["endTime"]) == new_end + timedelta(minutes=15)
    an_hour_later = visit.planned_end + timedelta(hours=1)
    assert site.control.passage(ENTRANCE, person_code=code, at=an_hour_later).reason == (
        "outside_validity"  # the devices still hold the old end
    )

    drain()

    assert site.control.passage(ENTRANCE, person_code=code, at=an_hour_later).granted


# --- ownership ---------------------------------------------------------------------------


def test_our_code_outside_our_organisation_and_others_persons_are_never_touched(
    site: SimulatorHandle, register: Register, drain: Drain, desk: Client, hcp: HikCentralClient
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    employee = PersonInput(
        person_code="E1001",
        org_index_code=STAFF_ORG,
        family_name="Bekova",
        given_name="Dana",
        begin_time=now - timedelta(days=30),
        end_time=now + timedelta(days=300),
    )
    employee_id = hcp.add_person(employee)
    hcp.add_persons_to_access_level(GUEST_LEVEL, [employee_id])
    visit = register()
    code = visit.visitor.person_code
    # Someone created a person with our visitor's code by hand, in the staff organisation.
    clash_id = hcp.add_person(
        PersonInput(**{**employee.__dict__, "person_code": code, "given_name": "Aliya"})
    )
    untouched = {p["personId"]: p for p in site.control.state()["persons"]}

    result = drain()
    request_reconcile(person_code="E1001", visitor_id=None, reason="forged", revoke=True)
    drain()
    desk.post(reverse("visits:cancel", args=[visit.pk]))
    drain()

    assert result.failed == 1
    work = AccessWork.objects.get(person_code=code)
    assert (work.state, work.last_error_code) == (WorkState.FAILED, "not_ours")
    assert "not ours" in work.last_error_message
    alien = AccessWork.objects.get(person_code="E1001")
    assert (alien.state, alien.last_error_code) == (WorkState.FAILED, "not_ours")
    after = {p["personId"]: p for p in site.control.state()["persons"]}
    assert after[employee_id] == untouched[employee_id]
    assert after[clash_id] == untouched[clash_id]
    assert set(after) == {employee_id, clash_id}
    assert not engine_entries("hcp.person_updated")
    assert not engine_entries("hcp.access_revoked")


def test_a_missing_organisation_fails_with_a_clear_message(
    site: SimulatorHandle, register: Register, drain: Drain, settings: Any
) -> None:
    settings.HCP_ORG_NAME = "Guests of the rector"
    visit = register()

    assert drain().failed == 1

    work = AccessWork.objects.get(person_code=visit.visitor.person_code)
    assert work.last_error_code == "org_missing"
    assert "Guests of the rector" in work.last_error_message
    assert "Create it in HCP" in work.last_error_message
    assert not site.control.state()["persons"]


def test_visitor_person_codes_carry_our_prefix() -> None:
    assert all(new_person_code().startswith(OUR_PERSON_CODE_PREFIX) for _ in range(50))


# --- the task ----------------------------------------------------------------------------


def test_the_task_drains_with_the_client_built_from_settings(
    site: SimulatorHandle, register: Register, hcp_settings: Any
) -> None:
    from propusk.access.tasks import reconcile_due

    visit = register()

    counts = reconcile_due.apply().get()

    assert counts["reconciled"] == 1
    assert site.control.passage(ENTRANCE, person_code=visit.visitor.person_code).granted


def test_without_hcp_configured_the_task_leaves_the_work_waiting(
    register: Register, settings: Any
) -> None:
    from propusk.access.tasks import reconcile_due

    settings.HCP_BASE_URL = ""
    visit = register()

    assert reconcile_due.apply().get()["reconciled"] == 0
    assert AccessWork.objects.get(person_code=visit.visitor.person_code).state == WorkState.PENDING


def test_the_beat_schedule_runs_the_sweep(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-access"]
    assert entry["task"] == "propusk.access.tasks.reconcile_due"
    assert entry["schedule"] == settings.PROPUSK_ACCESS_SWEEP_SECONDS == 10.0


# --- many workers ------------------------------------------------------------------------

WORKER_VISITORS = 12


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_draining_at_once_reconcile_each_person_once(
    site: SimulatorHandle, register: Register, hcp_settings: Any
) -> None:
    """Two workers (threads, each with its own database connection) drain the same queue in
    small batches while HCP answers slowly: every person is reconciled by one of them, once,
    and HCP holds one person per visitor."""
    visits = [register(family_name=f"Guestova{n}") for n in range(WORKER_VISITORS)]
    hcp_settings.HCP_BATCH_SIZE = 3
    site.control.add_fault("latency", ms=15)
    with build_client() as client:
        results = run_together(
            lambda: reconcile_due_work(client=client), lambda: reconcile_due_work(client=client)
        )

    assert all(isinstance(result, ReconcileResult) for result in results), results
    assert [result.reconciled > 0 for result in results] == [True, True]  # both took part
    assert sum(result.reconciled for result in results) == WORKER_VISITORS
    assert sum(result.failed + result.retried for result in results) == 0
    codes = [p["personCode"] for p in site.control.state()["persons"]]
    assert sorted(codes) == sorted(visit.visitor.person_code for visit in visits)
    for action in ("hcp.person_added", "hcp.membership_added"):
        targets = [entry.target_id for entry in engine_entries(action)]
        assert sorted(targets) == sorted(str(visit.visitor_id) for visit in visits), action
    assert not AccessWork.objects.exclude(lease_token="").exists()
    site.control.clear_faults()
    assert all(
        site.control.passage(ENTRANCE, person_code=visit.visitor.person_code).granted
        for visit in visits
    )
