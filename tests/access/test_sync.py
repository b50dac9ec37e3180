"""The full sync against the real HCP simulator over HTTP: HCP changed by hand (a person
deleted, its validity or face edited, memberships added, a person moved to another
organisation), HCP wiped clean, a sync that cannot read everything, and ``--dry-run``. Visits
go through the site's pages; hand changes through HCP's OpenAPI or the simulator's control API
(what someone would do in HCP's client)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from hikcentral import HikCentralClient, PersonInput
from propusk.access.models import AccessLevelPolicy, AccessWork, ApplyState, HcpPerson, WorkState
from propusk.access.reconciler import ReconcileResult
from propusk.access.sync import (
    FACE_MISSING,
    LEVEL_EXTRA,
    LEVEL_MISSING,
    MEMBER_OUTSIDE_OUR_ORG,
    MEMBER_WITHOUT_PREFIX,
    MISSING,
    NO_PREFIX_IN_OUR_ORG,
    NOT_ACTED_ON,
    REPLACED,
    UNEXPLAINED,
    UNRECORDED,
    VALIDITY,
    full_sync,
)
from propusk.audit.models import AuditEntry
from propusk.integrations.hikcentral.factory import build_config
from propusk.visits.models import Visit
from tests.factories import make_iin, make_jpeg

from .conftest import (
    ENTRANCE,
    GUEST_LEVEL,
    ORG_NAME,
    OUR_ORG,
    STAFF_ORG,
    VIP_LEVEL,
    hcp_person,
    local,
)
from .test_reconciler import engine_entries, hcp_time

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]
PERSON_LIST = "/api/resource/v1/person/personList"
LEVEL_MEMBERS = "/api/acs/v1/privilege/group/single/personList"


def hcp_sync(*args: str) -> str:
    """``manage.py hcp_sync``; its output (CommandError propagates)."""
    out = io.StringIO()
    call_command("hcp_sync", *args, stdout=out)
    return out.getvalue()


def by_hand(hcp: HikCentralClient, person_code: str, **changes: Any) -> None:
    """Edit a person in HCP as someone would in HCP's client: the whole person, changed."""
    info = hcp.get_person_by_code(person_code)
    assert info.begin_time is not None
    assert info.end_time is not None
    data = PersonInput(
        person_code=person_code,
        org_index_code=info.org_index_code or "",
        family_name=info.family_name or "",
        given_name=info.given_name or "",
        begin_time=info.begin_time,
        end_time=info.end_time,
        phone_no=info.phone_no,
    )
    hcp.update_person(info.person_id, replace(data, **changes))


def stranger(hcp: HikCentralClient, code: str, org: str, *, level: str | None) -> str:
    """A person made by hand in HCP with a face, valid for a year, member of ``level``."""
    now = datetime.now(UTC).replace(microsecond=0)
    person_id = hcp.add_person(
        PersonInput(
            person_code=code,
            org_index_code=org,
            family_name="Zhaksylykova",
            given_name="Madina",
            begin_time=now - timedelta(days=1),
            end_time=now + timedelta(days=365),
        ),
        face_jpeg=make_jpeg(color=(120, 90, 60)),
    )
    if level is not None:
        hcp.add_persons_to_access_level(level, [person_id])
        hcp.reapply(person_ids=[person_id], door_index_codes=["1", "2", "3", "4"])
    return person_id


def persons_by_code(site: SimulatorHandle) -> dict[str, dict[str, Any]]:
    return {p["personCode"]: p for p in site.control.state()["persons"] if not p.get("deleted")}


def assert_no_personal_data(text: str) -> None:
    for personal in ("Nurlanova", "Aigerim", "Zhaksylykova", "Madina", "701", "jpg"):
        assert personal not in text


# --- a person changed by hand -------------------------------------------------------------


def test_a_person_deleted_by_hand_is_created_again_with_face_and_access(
    site: SimulatorHandle, register: Register, drain: Drain, hcp: HikCentralClient
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    old_id = hcp_person(site, code)["personId"]
    hcp.delete_person(person_code=code)
    assert site.control.passage(ENTRANCE, person_code=code).granted  # devices not told yet

    output = hcp_sync()

    assert f"{code} [not in HCP]: {MISSING} -> queued" in output
    assert "Repaired 1 of 1 queued person(s)." in output
    assert_no_personal_data(output)
    person = hcp_person(site, code)
    assert person["personId"] != old_id
    assert (person["hasFace"], person["accessLevels"]) == (True, [GUEST_LEVEL])
    assert hcp_time(person["endTime"]) == (visit.planned_end + timedelta(minutes=15)).replace(
        microsecond=0
    )
    with visit.visitor.photo.open("rb") as stored:
        assert site.control.passage(ENTRANCE, face_jpeg=stored.read()).granted
    assert HcpPerson.objects.get(person_code=code).person_id == person["personId"]
    # The person deleted by hand was named in a reapplication: the devices dropped it.
    assert not [p for p in site.control.state()["persons"] if p.get("deleted")]
    stale = engine_entries("hcp.stale_person_reapplied")
    assert [e.changes["sent"]["person_ids"] for e in stale] == [[old_id]]
    assert [e.changes["answer"]["person_id"] for e in engine_entries("hcp.person_added")] == [
        old_id,
        person["personId"],
    ]
    # Converged: a second sync finds nothing.
    again = hcp_sync()
    assert "0 differ" in again
    assert "HCP is in sync." in again


def test_validity_and_a_face_removed_by_hand_are_restored(
    site: SimulatorHandle, register: Register, drain: Drain, hcp: HikCentralClient
) -> None:
    visit = register(minutes=60)
    code = visit.visitor.person_code
    drain()
    wanted_end = hcp_person(site, code)["endTime"]
    by_hand(hcp, code, end_time=datetime.now(UTC).replace(microsecond=0) + timedelta(days=30))
    site.control.remove_face(code)

    report = full_sync()

    assert [(d.person_code, set(d.kinds), d.action) for d in report.drift] == [
        (code, {VALIDITY, FACE_MISSING}, "queued")
    ]
    work = AccessWork.objects.get(person_code=code)
    assert work.reasons[-1] == f"full sync: {VALIDITY}, {FACE_MISSING}"
    assert work.due_at <= timezone.now()
    assert drain().reconciled == 1
    person = hcp_person(site, code)
    assert (person["endTime"], person["hasFace"]) == (wanted_end, True)
    with visit.visitor.photo.open("rb") as stored:
        assert site.control.passage(ENTRANCE, face_jpeg=stored.read()).granted
    assert len(engine_entries("hcp.person_updated")) == 1
    assert len(engine_entries("hcp.face_updated")) == 1
    assert full_sync().in_sync


def test_a_person_deleted_and_made_again_by_hand_is_taken_for_what_it_is(
    site: SimulatorHandle, register: Register, drain: Drain, confirm: Drain, hcp: HikCentralClient
) -> None:
    """Same code, new personId: nothing recorded of the old person counts (its face, its
    levels); the new one is brought to the desired state."""
    visit = register()
    code = visit.visitor.person_code
    drain()
    old_id = hcp_person(site, code)["personId"]
    hcp.delete_person(person_code=code)
    now = datetime.now(UTC).replace(microsecond=0)
    new_id = hcp.add_person(
        PersonInput(
            person_code=code,
            org_index_code=OUR_ORG,
            family_name=visit.visitor.family_name,
            given_name=visit.visitor.given_name,
            begin_time=now,
            end_time=now + timedelta(days=365),
            phone_no=visit.visitor.phone,
        )
    )
    assert new_id != old_id

    output = hcp_sync()

    assert (
        f"{code} [HCP person {new_id}]: {REPLACED}, {VALIDITY}, {FACE_MISSING}, "
        f"{LEVEL_MISSING} -> queued"
    ) in output
    person = hcp_person(site, code)
    assert (person["personId"], person["hasFace"], person["accessLevels"]) == (
        new_id,
        True,
        [GUEST_LEVEL],
    )
    assert person["endTime"] != (now + timedelta(days=365)).isoformat()
    with visit.visitor.photo.open("rb") as stored:
        assert site.control.passage(ENTRANCE, face_jpeg=stored.read()).granted
    record = HcpPerson.objects.get(person_code=code)
    # The old person, deleted by hand and never applied, is gone from the devices too ...
    assert not [p for p in site.control.state()["persons"] if p.get("deleted")]
    # ... which the record keeps following until HCP says so.
    assert (record.person_id, record.stale_person_ids) == (new_id, [old_id])
    assert record.apply_state == ApplyState.WAITING
    confirm()
    record.refresh_from_db()
    assert (record.stale_person_ids, record.apply_state) == ([], ApplyState.APPLIED)


def test_access_given_again_by_hand_to_a_revoked_visitor_is_revoked_again(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    desk: Client,
    hcp: HikCentralClient,
    vip_policy: AccessLevelPolicy,
) -> None:
    """The VIP level is one our policies use: the sync reads its members."""
    visit = register()
    code = visit.visitor.person_code
    drain()
    desk.post(reverse("visits:cancel", args=[visit.pk]))
    drain()
    confirm()
    person_id = hcp_person(site, code)["personId"]
    # Someone lets the visitor in again by hand: a year of validity and the VIP level.
    by_hand(hcp, code, end_time=datetime.now(UTC).replace(microsecond=0) + timedelta(days=365))
    hcp.add_persons_to_access_level(VIP_LEVEL, [person_id])
    hcp.reapply(person_ids=[person_id], door_index_codes=["1", "2", "3", "4"])
    assert site.control.passage(ENTRANCE, person_code=code).granted

    output = hcp_sync()

    assert (
        f"{code} [HCP person {person_id}]: {VALIDITY}, {LEVEL_EXTRA} -> queued as a revocation"
    ) in output
    assert not site.control.passage(ENTRANCE, person_code=code).granted
    person = hcp_person(site, code)
    assert person["accessLevels"] == []
    assert hcp_time(person["endTime"]) <= timezone.now()
    removed = engine_entries("hcp.membership_removed")
    assert removed[-1].changes["sent"]["access_level_ids"] == [VIP_LEVEL]


def test_a_membership_removed_by_hand_is_added_again(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    hcp: HikCentralClient,
    vip_policy: AccessLevelPolicy,
) -> None:
    visit = register(policy=vip_policy)
    code = visit.visitor.person_code
    drain()
    person_id = hcp_person(site, code)["personId"]
    hcp.delete_persons_from_access_level(VIP_LEVEL, [person_id])
    hcp.reapply(person_ids=[person_id], door_index_codes=["1", "2", "3", "4"])
    assert not site.control.passage(ENTRANCE, person_code=code).granted

    report = full_sync()

    assert [d.kinds for d in report.drift] == [(LEVEL_MISSING,)]
    drain()
    assert hcp_person(site, code)["accessLevels"] == [VIP_LEVEL]
    assert site.control.passage(ENTRANCE, person_code=code).granted


def test_memberships_added_by_hand_go_from_strangers_of_ours_and_others_stay_untouched(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    hcp: HikCentralClient,
    vip_policy: AccessLevelPolicy,
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    ours_id = hcp_person(site, code)["personId"]
    # By hand: a person in our organisation with our prefix that no visitor explains, in the
    # guests' level; an employee of the staff organisation and a person of ours without our
    # prefix in our levels; our visitor put in the VIP level.
    alien_code = "VZZZZ0000001"
    alien_id = stranger(hcp, alien_code, OUR_ORG, level=GUEST_LEVEL)
    employee_id = stranger(hcp, "E1001", STAFF_ORG, level=GUEST_LEVEL)
    unprefixed_id = stranger(hcp, "G2002", OUR_ORG, level=VIP_LEVEL)
    hcp.add_persons_to_access_level(VIP_LEVEL, [ours_id])
    before = persons_by_code(site)
    assert site.control.passage(ENTRANCE, person_code=alien_code).granted
    assert site.control.passage(ENTRANCE, person_code="E1001").granted

    output = hcp_sync()

    assert (
        f"{alien_code} [HCP person {alien_id}]: {UNRECORDED}, {UNEXPLAINED}, {VALIDITY}, "
        f"{LEVEL_EXTRA} -> queued as a revocation"
    ) in output
    assert f"{code} [HCP person {ours_id}]: {LEVEL_EXTRA} -> queued as a revocation" in output
    # Persons not ours are named by HCP's id only: their codes are not ours to print.
    assert (
        f"not ours [HCP person {employee_id}]: {MEMBER_OUTSIDE_OUR_ORG} (access levels "
        f"{GUEST_LEVEL}) -> reported, left untouched"
    ) in output
    assert f"not ours [HCP person {unprefixed_id}]: {NO_PREFIX_IN_OUR_ORG}" in output
    assert (
        f"not ours [HCP person {unprefixed_id}]: {MEMBER_WITHOUT_PREFIX} (access levels "
        f"{VIP_LEVEL})"
    ) in output
    assert "E1001" not in output
    assert "G2002" not in output
    assert "Repaired 2 of 2 queued person(s)." in output
    assert_no_personal_data(output)
    after = persons_by_code(site)
    assert after["E1001"] == before["E1001"]
    assert after["G2002"] == before["G2002"]
    assert after[alien_code]["accessLevels"] == []
    assert hcp_time(after[alien_code]["endTime"]) <= timezone.now()
    assert not site.control.passage(ENTRANCE, person_code=alien_code).granted
    assert site.control.passage(ENTRANCE, person_code="E1001").granted
    assert after[code]["accessLevels"] == [GUEST_LEVEL]
    assert HcpPerson.objects.get(person_code=alien_code).revoked_at is not None


def test_a_person_of_ours_moved_to_another_organisation_is_reported_and_left_alone(
    site: SimulatorHandle, register: Register, drain: Drain, hcp: HikCentralClient
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    by_hand(hcp, code, org_index_code=STAFF_ORG)
    moved = hcp_person(site, code)

    with pytest.raises(CommandError, match="could not be repaired"):
        hcp_sync()

    assert hcp_person(site, code) == moved
    work = AccessWork.objects.get(person_code=code)
    assert (work.state, work.last_error_code) == (WorkState.FAILED, "not_ours")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("hcp_sync", stdout=out)
    assert "not queued: its work failed (not_ours)" in out.getvalue()
    assert hcp_person(site, code) == moved
    assert len(engine_entries("hcp.work_failed")) == 1


# --- HCP wiped clean ----------------------------------------------------------------------


def test_an_hcp_wiped_clean_is_restored_by_one_sync(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    desk: Client,
    vip_policy: AccessLevelPolicy,
) -> None:
    now_visit = register(family_name="Akhmetova", national_id=make_iin())
    tomorrow = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    later_visit = register(family_name="Seitkali", start=tomorrow, minutes=60)
    vip_visit = register(family_name="Omarova", policy=vip_policy)
    gone_visit = register(family_name="Bekova")
    drain()
    desk.post(reverse("visits:cancel", args=[gone_visit.pk]))
    drain()
    confirm()
    # HCP is rebuilt: the site again (our organisation under a new index code), no person.
    site.control.reset()
    site.control.add_org("7", ORG_NAME)
    assert not site.control.state()["persons"]

    output = hcp_sync()

    # The three visitors with access now or later, and the cancelled one's record cleared.
    assert "Repaired 4 of 4 queued person(s)." in output
    assert f"{gone_visit.visitor.person_code} [not in HCP]: gone -> queued" in output
    assert HcpPerson.objects.get(person_code=gone_visit.visitor.person_code).person_id == ""
    persons = persons_by_code(site)
    assert set(persons) == {
        now_visit.visitor.person_code,
        later_visit.visitor.person_code,
        vip_visit.visitor.person_code,
    }
    for visit, level in ((now_visit, GUEST_LEVEL), (later_visit, GUEST_LEVEL)):
        person = persons[visit.visitor.person_code]
        assert (person["orgIndexCode"], person["hasFace"]) == ("7", True)
        assert person["accessLevels"] == [level]
    assert persons[vip_visit.visitor.person_code]["accessLevels"] == [VIP_LEVEL]
    assert hcp_time(persons[later_visit.visitor.person_code]["beginTime"]) == tomorrow - timedelta(
        minutes=15
    )
    for visit in (now_visit, vip_visit):
        with visit.visitor.photo.open("rb") as stored:
            assert site.control.passage(ENTRANCE, face_jpeg=stored.read()).granted
    assert site.control.passage(
        ENTRANCE,
        person_code=later_visit.visitor.person_code,
        at=tomorrow + timedelta(minutes=5),
    ).granted
    assert "HCP is in sync." in hcp_sync()


def test_an_hcp_restored_from_an_old_backup_is_brought_up_to_date_by_one_sync(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    desk: Client,
    hcp: HikCentralClient,
) -> None:
    """The backup was taken while Akhmetova's visit was shorter and Bekova's was not yet
    cancelled; Seitkali registered after it."""
    kept = register(family_name="Akhmetova", minutes=60)
    cancelled = register(family_name="Bekova")
    drain()
    backup = {visit.pk: hcp.get_person_by_code(visit.visitor.person_code) for visit in (kept,)}
    backup[cancelled.pk] = hcp.get_person_by_code(cancelled.visitor.person_code)
    desk.post(
        reverse("visits:change_window", args=[kept.pk]),
        {
            "window-planned_start": local(kept.planned_start),
            "window-planned_end": local(kept.planned_end + timedelta(hours=2)),
        },
    )
    desk.post(reverse("visits:cancel", args=[cancelled.pk]))
    newcomer = register(family_name="Seitkali")
    drain()
    confirm()
    # HCP restored: the site as it was, the persons of the backup made again (new personIds).
    site.control.reset()
    site.control.add_org(OUR_ORG, ORG_NAME)
    for visit in (kept, cancelled):
        info = backup[visit.pk]
        assert info.begin_time is not None
        assert info.end_time is not None
        with visit.visitor.photo.open("rb") as stored:
            person_id = hcp.add_person(
                PersonInput(
                    person_code=visit.visitor.person_code,
                    org_index_code=OUR_ORG,
                    family_name=info.family_name or "",
                    given_name=info.given_name or "",
                    begin_time=info.begin_time,
                    end_time=info.end_time,
                    phone_no=info.phone_no,
                ),
                face_jpeg=stored.read(),
            )
        hcp.add_persons_to_access_level(GUEST_LEVEL, [person_id])
        hcp.reapply(person_ids=[person_id], door_index_codes=["1", "2", "3", "4"])
    assert site.control.passage(ENTRANCE, person_code=cancelled.visitor.person_code).granted

    output = hcp_sync()

    lines = {line.split(" [")[0].strip(): line for line in output.splitlines()[1:4]}
    # A backup keeps HCP's personIds: the persons are the ones recorded, changed back.
    assert lines[kept.visitor.person_code].endswith(f"]: {VALIDITY} -> queued")
    assert lines[cancelled.visitor.person_code].endswith(
        f"]: {VALIDITY}, {LEVEL_EXTRA} -> queued as a revocation"
    )
    assert lines[newcomer.visitor.person_code].endswith(f"[not in HCP]: {MISSING} -> queued")
    assert "Repaired 3 of 3 queued person(s)." in output
    later = kept.planned_end + timedelta(hours=1)
    assert site.control.passage(ENTRANCE, person_code=kept.visitor.person_code, at=later).granted
    assert not site.control.passage(ENTRANCE, person_code=cancelled.visitor.person_code).granted
    assert hcp_person(site, cancelled.visitor.person_code)["accessLevels"] == []
    with newcomer.visitor.photo.open("rb") as stored:
        assert site.control.passage(ENTRANCE, face_jpeg=stored.read()).granted
    assert "HCP is in sync." in hcp_sync()


# --- a sync that cannot read everything ---------------------------------------------------


def test_a_sync_that_cannot_read_the_members_of_a_level_takes_nothing_away(
    site: SimulatorHandle, register: Register, drain: Drain, hcp: HikCentralClient
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    hcp.delete_person(person_code=code)  # to be re-created: adding is safe
    alien_code = "VZZZZ0000002"
    stranger(hcp, alien_code, OUR_ORG, level=GUEST_LEVEL)  # to be revoked: not now
    alien_before = persons_by_code(site)[alien_code]
    site.control.add_fault("http", path=LEVEL_MEMBERS, status=503)

    out = io.StringIO()
    with pytest.raises(CommandError, match="could not be read completely"):
        call_command("hcp_sync", stdout=out)

    output = out.getvalue()
    assert f"{alien_code} [HCP person {alien_before['personId']}]" in output
    assert NOT_ACTED_ON in output
    assert persons_by_code(site)[alien_code] == alien_before
    assert not AccessWork.objects.filter(person_code=alien_code).exists()
    assert not HcpPerson.objects.filter(person_code=alien_code).exists()
    # The visitor deleted by hand was re-created all the same (nothing taken away).
    assert hcp_person(site, code)["accessLevels"] == [GUEST_LEVEL]


def test_a_sync_whose_person_list_fails_on_a_later_page_queues_nothing(
    site: SimulatorHandle, register: Register, drain: Drain, hcp: HikCentralClient
) -> None:
    for name in ("Akhmetova", "Seitkali", "Omarova"):
        register(family_name=name)
    drain()
    stranger(hcp, "VZZZZ0000003", OUR_ORG, level=GUEST_LEVEL)
    before = site.control.state()["persons"]
    work = list(AccessWork.objects.order_by("pk").values())
    # Pages of two persons: the first page answers, the second fails.
    site.control.add_fault("latency", path=PERSON_LIST, ms=1, count=1)
    site.control.add_fault("http", path=PERSON_LIST, status=503)
    with HikCentralClient(replace(build_config(), page_size=2)) as client:
        report = full_sync(client=client)

    assert not report.complete
    assert "could not read HCP's persons" in report.errors[0]
    assert (report.drift, report.queued) == ([], [])
    assert list(AccessWork.objects.order_by("pk").values()) == work
    assert not HcpPerson.objects.filter(person_code="VZZZZ0000003").exists()
    assert site.control.state()["persons"] == before


def test_a_dry_run_prints_the_drift_and_changes_nothing(
    site: SimulatorHandle, register: Register, drain: Drain, hcp: HikCentralClient
) -> None:
    deleted = register(family_name="Akhmetova")
    edited = register(family_name="Seitkali")
    drain()
    hcp.delete_person(person_code=deleted.visitor.person_code)
    by_hand(
        hcp,
        edited.visitor.person_code,
        end_time=datetime.now(UTC).replace(microsecond=0) + timedelta(days=30),
    )
    stranger(hcp, "VZZZZ0000004", OUR_ORG, level=GUEST_LEVEL)
    hcp_before = site.control.state()
    records = list(HcpPerson.objects.order_by("pk").values())
    work = list(AccessWork.objects.order_by("pk").values())
    audit = AuditEntry.objects.count()

    output = hcp_sync("--dry-run")

    assert "(dry run: nothing changed): 3 differ." in output
    assert f"{deleted.visitor.person_code} [not in HCP]: {MISSING} -> would be queued" in output
    assert f"{edited.visitor.person_code} [HCP person" in output
    assert "VZZZZ0000004 [HCP person" in output
    after = site.control.state()
    assert (after["persons"], after["accessLevels"]) == (
        hcp_before["persons"],
        hcp_before["accessLevels"],
    )
    assert list(AccessWork.objects.order_by("pk").values()) == work
    assert list(HcpPerson.objects.order_by("pk").values()) == records
    assert AuditEntry.objects.count() == audit


# --- beat ---------------------------------------------------------------------------------


def test_beat_runs_the_sync_which_queues_the_drift_for_a_worker(
    site: SimulatorHandle, register: Register, drain: Drain, hcp: HikCentralClient, settings: Any
) -> None:
    from propusk.access.tasks import sync_with_hcp

    entry = settings.CELERY_BEAT_SCHEDULE["sync-access"]
    assert entry["task"] == "propusk.access.tasks.sync_with_hcp"
    assert entry["schedule"] == settings.PROPUSK_ACCESS_SYNC_MINUTES * 60 == 3600
    visit = register()
    drain()
    hcp.delete_person(person_code=visit.visitor.person_code)

    summary = sync_with_hcp.apply().get()

    assert (summary["complete"], summary["drift"], summary["queued"]) == (True, 1, 1)
    assert AccessWork.objects.get(person_code=visit.visitor.person_code).reasons[-1] == (
        f"full sync: {MISSING}"
    )
    drain()
    assert site.control.passage(ENTRANCE, person_code=visit.visitor.person_code).granted


def test_the_sync_without_hcp_configured_does_nothing(settings: Any) -> None:
    from propusk.access.tasks import sync_with_hcp

    settings.HCP_BASE_URL = ""
    assert sync_with_hcp.apply().get() == {"skipped": "no HikCentral configured"}
    with pytest.raises(CommandError, match="HCP is not configured"):
        hcp_sync()
