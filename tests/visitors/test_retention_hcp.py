# ruff: noqa: F811 - the access engine's fixtures, imported below, are parameters here
"""Personal data retention and HikCentral, against the real HCP simulator over HTTP: a visitor
whose face was deleted here is removed from HCP by the access engine after its own retention
(at its next run when the visitor was erased on request) without the face file (no error, no
enrolment without a face), and a visitor who comes back is enrolled again with the new face
they must give."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hcp_simulator.testing import SimulatorHandle
from propusk.access.models import AccessWork, HcpPerson, WorkState
from propusk.access.reconciler import ReconcileResult
from propusk.audit.models import AuditEntry
from propusk.visitors.models import Visitor
from propusk.visitors.retention import erase_visitor, purge_personal_data
from propusk.visits.models import Visit
from tests.access.conftest import (  # noqa: F401 - the access engine's fixtures
    confirm,
    desk,
    drain,
    hcp,
    hcp_person,
    hcp_settings,
    register,
    simulator,
    site,
)
from tests.factories import make_iin

pytestmark = [pytest.mark.simulator, pytest.mark.django_db]

Drain = Callable[..., ReconcileResult]
Register = Callable[..., Visit]
HCP_RETENTION = timedelta(hours=4)  # PROPUSK_ACCESS_RETENTION_HOURS


def live_persons(site: SimulatorHandle, code: str) -> list[dict[str, Any]]:
    return [
        p
        for p in site.control.state()["persons"]
        if p.get("personCode") == code and not p.get("deleted")
    ]


def enrolled_then_cancelled(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    desk: Client,
    *,
    national_id: str,
) -> tuple[Visit, datetime]:
    """Reception registers a walk-in (enrolled with the face), then cancels it: revoked in
    HCP, the revocation on the devices. The visit and when HCP revoked it."""
    visit = register(family_name="Бекова", given_name="Әлия", national_id=national_id)
    drain()
    assert hcp_person(site, visit.visitor.person_code)["hasFace"]
    desk.post(reverse("visits:cancel", args=[visit.pk]))
    drain()
    confirm()
    record = HcpPerson.objects.get(person_code=visit.visitor.person_code)
    assert record.revoked_at is not None
    visit.refresh_from_db()
    return visit, record.revoked_at


def no_failed_work(code: str) -> None:
    assert not AccessWork.objects.filter(person_code=code, state=WorkState.FAILED).exists()


def test_erased_within_the_hcp_retention_the_person_goes_at_once_without_the_face_file(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    desk: Client,
    admin_user: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    iin = make_iin()
    visit, revoked_at = enrolled_then_cancelled(
        site, register, drain, confirm, desk, national_id=iin
    )
    visitor = visit.visitor
    code = visitor.person_code
    face = Path(visitor.photo.path)

    with django_capture_on_commit_callbacks(execute=True):
        result = erase_visitor(
            visitor=visitor, actor=admin_user, reason="Заявление на отзыв согласия"
        )

    assert not face.exists()
    assert result.hcp_person == "to be deleted by the access engine at its next run"
    assert live_persons(site, code)
    # Erased: the access engine's next run deletes the person with its face, without
    # waiting for its own retention (PROPUSK_ACCESS_RETENTION_HOURS after the revocation).
    soon = revoked_at + timedelta(minutes=1)
    assert soon < revoked_at + HCP_RETENTION
    site.control.set_clock(soon)
    drain(now=soon)

    assert live_persons(site, code) == []
    assert HcpPerson.objects.get(person_code=code).deleted_at == soon
    later = revoked_at + HCP_RETENTION + timedelta(minutes=1)
    no_failed_work(code)
    erased_at = AuditEntry.objects.get(action="visitor.erased").at
    added = AuditEntry.objects.filter(action="hcp.person_added", at__gt=erased_at)
    assert not added.exists()

    # The same person comes back: the ID number finds nobody, a new visitor is enrolled.
    start = (later + timedelta(minutes=30)).replace(second=0, microsecond=0)
    again = register(family_name="Бекова", given_name="Әлия", national_id=iin, start=start)
    drain(now=later)

    assert again.visitor_id != visitor.pk
    assert again.visitor.person_code != code
    assert hcp_person(site, again.visitor.person_code)["hasFace"]
    assert live_persons(site, code) == []


def test_a_face_deleted_after_the_retention_is_not_sent_and_a_return_enrols_the_new_face(
    site: SimulatorHandle,
    register: Register,
    drain: Drain,
    confirm: Drain,
    desk: Client,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PROPUSK_FACE_RETENTION_DAYS = 30
    iin = make_iin()
    visit, revoked_at = enrolled_then_cancelled(
        site, register, drain, confirm, desk, national_id=iin
    )
    code = visit.visitor.person_code
    after_hcp = revoked_at + HCP_RETENTION + timedelta(minutes=1)
    site.control.set_clock(after_hcp)
    drain(now=after_hcp)
    assert live_persons(site, code) == []

    month_later = timezone.now() + timedelta(days=31)
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_personal_data(now=month_later).faces_deleted == [visit.visitor_id]
    visitor = Visitor.objects.get(pk=visit.visitor_id)
    assert not visitor.photo

    # Nothing for HCP to do about a visitor without a face and without access.
    site.control.set_clock(month_later)
    result = drain(now=month_later)
    assert result.failed == 0
    assert live_persons(site, code) == []
    no_failed_work(code)

    # Back after the face retention: reception types the number and takes a new photo (the
    # form requires one: there is none on file); HCP gets the person again, with that face.
    start = (month_later + timedelta(minutes=30)).replace(second=0, microsecond=0)
    again = register(family_name="Бекова", given_name="Әлия", national_id=iin, start=start)
    drain(now=month_later)

    assert again.visitor_id == visitor.pk
    visitor.refresh_from_db()
    assert visitor.photo
    assert visitor.face_deleted_at is None
    person = hcp_person(site, code)
    assert person["hasFace"]
    no_failed_work(code)
