"""Manual operations end to end, against the real HCP simulator over HTTP: "revoke now" pressed
in the admin makes the simulator's turnstile refuse the face once the reconciler has run, and
"restore" lets it through again; "re-enrol the face" sends the same face once more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from hcp_simulator.testing import SimulatorHandle
from propusk.access.models import AccessWork, HcpPerson
from propusk.access.reconciler import ReconcileResult
from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit, VisitStatus

from .conftest import ENTRANCE, GUEST_LEVEL, hcp_person, signed_in
from .test_manual_services import VISITORS, act, staff

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]


def engine_actions() -> list[str]:
    entries = AuditEntry.objects.filter(actor_label="access-engine").order_by("pk")
    return list(entries.values_list("action", flat=True))


def test_revoke_now_makes_the_turnstile_refuse_the_face_and_restore_lets_it_through(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    security: User,
    admin_user: User,
) -> None:
    visit = register(family_name="Абдрахманова", given_name="Малика", minutes=180)
    code = visit.visitor.person_code
    drain()
    assert site.control.passage(ENTRANCE, person_code=code).granted
    window_end = hcp_person(site, code)["endTime"]

    act(staff(security), VISITORS, "revoke_access_now", [visit.visitor], reason="Пропуск утерян")
    revocation = drain()
    confirm()

    assert revocation.reconciled == 2  # the revocation, then its validity end
    passage = site.control.passage(ENTRANCE, person_code=code)
    assert not passage.granted
    person = hcp_person(site, code)
    assert person["accessLevels"] == []
    assert datetime.fromisoformat(person["endTime"]) < datetime.fromisoformat(window_end)
    assert HcpPerson.objects.get(person_code=code).revoked_at is not None
    visit.refresh_from_db()
    assert visit.status != VisitStatus.CANCELLED  # the visit is untouched: only the access
    assert "hcp.access_revoked" in engine_actions()
    assert "hcp.membership_removed" in engine_actions()

    act(staff(admin_user), VISITORS, "restore_access", [visit.visitor], reason="Пропуск нашёлся")
    drain()
    confirm()

    assert site.control.passage(ENTRANCE, person_code=code).granted
    person = hcp_person(site, code)
    assert person["accessLevels"] == [GUEST_LEVEL]
    assert person["endTime"] == window_end
    assert HcpPerson.objects.get(person_code=code).revoked_at is None

    # The visit page shows security the whole story, manual and in HCP.
    html = signed_in(security).get(reverse("visits:detail", args=[visit.pk])).content.decode()
    for label in (
        "Access revoked by hand",
        "Access ended in HikCentral",
        "Access levels removed",
        "Access restored by hand",
        "Access levels added",
        "reason: Пропуск утерян",
    ):
        assert label in html
    assert "active in HikCentral" in html


def test_reenrol_sends_the_same_face_again(
    site: SimulatorHandle, register: Register, drain: Drain, reception: User
) -> None:
    visit = register()
    code = visit.visitor.person_code
    drain()
    assert engine_actions().count("hcp.face_updated") == 0  # the face went with the add

    act(
        staff(reception),
        VISITORS,
        "reenrol_face",
        [visit.visitor],
        reason="Турникет плохо узнаёт лицо",
    )
    assert AccessWork.objects.filter(person_code=code).exists()
    drain()

    assert engine_actions().count("hcp.face_updated") == 1
    assert hcp_person(site, code)["hasFace"] is True
    assert HcpPerson.objects.get(person_code=code).face_version == visit.visitor.photo.name
    assert site.control.passage(ENTRANCE, person_code=code).granted
