"""Passage pictures (fetched from the simulator, kept privately, shown only to those who may
see the face, deleted with the visitor's face) and the incident pages."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from hikcentral import HikCentralClient
from propusk.audit.models import AuditEntry
from propusk.passages.models import Incident, IncidentState, Passage, PictureState
from propusk.passages.tasks import fetch_picture_now
from propusk.visitors.services import VisitorData
from propusk.visits import services as visit_services
from propusk.visits.models import Visit, VisitKind
from tests.access.conftest import ENTRANCE, distinct_face, signed_in
from tests.factories import make_iin
from tests.passages.conftest import Turnstile

pytestmark = pytest.mark.django_db

NOTE = "Гость прошёл с охраной"  # noqa: RUF001 - Russian text


def fetched(event_pk: int, hcp: HikCentralClient) -> Passage:
    passage = Passage.objects.get(event_id=event_pk)
    assert passage.picture_state == PictureState.PENDING
    assert fetch_picture_now(passage.pk, client=hcp) == PictureState.STORED
    passage.refresh_from_db()
    return passage


def test_the_picture_is_fetched_stored_privately_and_shown_only_to_who_may_see_the_face(
    enrolled: Callable[..., Visit],
    turnstile: Turnstile,
    hcp: HikCentralClient,
    reception: User,
    host: User,
    other_host: User,
    no_role_user: User,
) -> None:
    visit = enrolled()
    passage = fetched(turnstile.pass_(ENTRANCE, visit=visit).pk, hcp)

    path = Path(passage.picture.path)
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    url = reverse("passages:picture", args=[passage.pk])

    for allowed in (reception, host):
        response = signed_in(allowed).get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert response["Cache-Control"] == "private, no-store"
    assert AuditEntry.objects.filter(action="passage.picture_viewed").count() == 2
    assert signed_in(other_host).get(url).status_code == 404
    assert signed_in(no_role_user).get(url).status_code == 403

    # The visit page shows the passage, with a thumbnail only to those who see faces.
    page = signed_in(host).get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert 'id="passages"' in page
    assert url in page
    # Fetched again: nothing changes (idempotent).
    assert fetch_picture_now(passage.pk, client=hcp) == PictureState.STORED


def test_an_unreachable_hcp_leaves_the_picture_pending_and_never_blocks_check_in(
    enrolled: Callable[..., Visit], turnstile: Turnstile, hcp: HikCentralClient
) -> None:
    from hikcentral.errors import HikCentralError

    visit = enrolled()
    event = turnstile.pass_(ENTRANCE, visit=visit)
    visit.refresh_from_db()
    assert visit.status == "checked_in"  # the picture was not needed for that
    turnstile.sim.control.add_fault("http", path="*event/pictures", status=503)
    passage = Passage.objects.get(event=event)
    with pytest.raises(HikCentralError):
        fetch_picture_now(passage.pk, client=hcp)
    passage.refresh_from_db()
    assert (passage.picture_state, passage.picture_attempts) == (PictureState.PENDING, 1)


def test_an_unrecognised_face_picture_is_for_reception_and_security_only(
    turnstile: Turnstile,
    hcp: HikCentralClient,
    reception: User,
    security: User,
    host: User,
) -> None:
    passage = fetched(turnstile.pass_(ENTRANCE, unknown_face=True).pk, hcp)
    incident = Incident.objects.get()
    url = reverse("passages:picture", args=[passage.pk])
    assert signed_in(security).get(url).status_code == 200
    assert signed_in(host).get(url).status_code == 404

    page = signed_in(reception).get(reverse("passages:incident", args=[incident.pk]))
    assert page.status_code == 200
    assert url in page.content.decode()
    assert signed_in(host).get(reverse("passages:incidents")).status_code == 403


def test_incidents_are_acknowledged_and_resolved_by_post_and_audited(
    turnstile: Turnstile, security: User
) -> None:
    turnstile.pass_(ENTRANCE, unknown_face=True)
    incident = Incident.objects.get()
    browser = signed_in(security)
    listing = browser.get(reverse("passages:incidents")).content.decode()
    assert reverse("passages:incident", args=[incident.pk]) in listing

    assert browser.get(reverse("passages:acknowledge", args=[incident.pk])).status_code == 405
    browser.post(reverse("passages:acknowledge", args=[incident.pk]))
    browser.post(reverse("passages:resolve", args=[incident.pk]), {"note": NOTE})
    incident.refresh_from_db()
    assert incident.state == IncidentState.RESOLVED
    assert (incident.acknowledged_by, incident.resolved_by) == (security, security)
    assert incident.note == NOTE
    assert list(
        AuditEntry.objects.filter(target_id=str(incident.pk), action__startswith="incident.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["incident.opened", "incident.acknowledged", "incident.resolved"]
    # Resolving again is refused with a message and changes nothing.
    response = browser.post(reverse("passages:resolve", args=[incident.pk]), follow=True)
    assert "already" in response.content.decode()


def test_passage_pictures_go_with_the_visitors_face(
    turnstile: Turnstile,
    hcp: HikCentralClient,
    drain: Callable[..., object],
    reception: User,
    host: User,
    guest_policy: object,
) -> None:
    """A host registers a guest with an ID number already on file: a record of its own (with
    the face the host sent), which passes the turnstile. Reception then confirms it is the
    stored visitor: the record is deleted with its face, and its passage pictures too."""
    iin = make_iin()
    start = timezone.now() - timedelta(minutes=5)

    def register(actor: User, n: int) -> Visit:
        data = VisitorData(
            family_name="Сейткали",
            given_name="Ерлан",
            middle_name="",
            phone="+77017654321",
            email="",
            national_id=iin,
            photo_jpeg=distinct_face(40 + n),
            consent=True,
        )
        return visit_services.register_with_visitor(
            visitor=data,
            actor=actor,
            register=lambda person: visit_services.register_visit(
                kind=VisitKind.GUEST,
                visitor=person,
                host=host,
                planned_start=start,
                planned_end=start + timedelta(hours=2),
                access_policy=guest_policy,  # type: ignore[arg-type]
                actor=actor,
            ),
        )

    register(reception, 1)
    claimant = Visit.objects.select_related("visitor").get(pk=register(host, 2).pk)
    assert claimant.visitor.needs_identity_check
    drain()
    passage = fetched(turnstile.pass_(ENTRANCE, visit=claimant).pk, hcp)
    picture = Path(passage.picture.path)
    assert picture.exists()

    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        visit_services.confirm_visitor_identity(visit=claimant, actor=reception, same_person=True)
    passage.refresh_from_db()
    assert (passage.picture_state, passage.picture.name) == (PictureState.DELETED, "")
    assert not picture.exists()
