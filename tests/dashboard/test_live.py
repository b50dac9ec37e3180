# Russian words in the asserts look like Latin ones to ruff's confusable check: they are meant.
# ruff: noqa: RUF001

"""What the dashboard shows, read from the real state: passages made at the simulator's
turnstile and brought in by the events intake (polling + processing, as a worker does),
visits changed through the services, incidents handled through the passages' views."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from propusk.access.models import AccessWork, WorkState
from propusk.audit.models import AuditEntry
from propusk.passages.models import Incident, IncidentKind, IncidentState, Passage
from propusk.passages.tasks import fetch_picture_now
from propusk.visits import services as visit_services
from propusk.visits.models import Visit, VisitStatus
from tests.access.conftest import ENTRANCE
from tests.conftest import PASSWORD
from tests.passages.conftest import EXIT_DOOR, Turnstile, face_of

pytestmark = [pytest.mark.django_db, pytest.mark.simulator]


def signed_in(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def section(html: str, name: str) -> str:
    """The HTML of one section of the partial."""
    match = re.search(rf'<section[^>]*id="{name}".*?</section>', html, re.S)
    assert match is not None, name
    return match.group(0)


def live(client: Client) -> str:
    response = client.get(reverse("dashboard:live"))
    assert response.status_code == 200
    return response.content.decode()


def test_a_passage_at_the_turnstile_shows_once_the_intake_processed_it(
    enrolled: Callable[..., Visit],
    site,
    intake: Callable[[], int],
    security: User,
    hcp,
) -> None:
    visit = enrolled()
    desk = signed_in(security)
    before = live(desk)
    assert visit.visitor.full_name not in section(before, "passages")
    assert visit.visitor.full_name not in section(before, "inside")

    entered_at = timezone.now() - timedelta(minutes=2)
    assert site.control.passage(ENTRANCE, face_jpeg=face_of(visit), at=entered_at).granted
    assert visit.visitor.full_name not in section(live(desk), "passages")  # not yet taken in
    assert intake() == 1

    passage = Passage.objects.get()
    fetch_picture_now(passage.pk, client=hcp)  # the picture task, as a worker runs it
    html = live(desk)
    passages = section(html, "passages")
    assert visit.visitor.full_name in passages
    assert passage.door_name
    assert passage.door_name in passages
    assert reverse("passages:picture", args=[passage.pk]) in passages
    inside = section(html, "inside")
    assert visit.visitor.full_name in inside
    assert visit.host.get_full_name() in inside
    assert passage.door_name in inside
    assert timezone.localtime(passage.happened_at).strftime("%H:%M") in inside
    # The photo through the audited visit photo view, for security (today's visit).
    assert reverse("visits:photo", args=[visit.pk]) in inside
    assert '<strong id="inside-count">1</strong>' in html

    # Out through the exit: no longer inside, the exit among the passages.
    site.control.passage(
        EXIT_DOOR, face_jpeg=face_of(visit), direction="out", at=entered_at + timedelta(minutes=1)
    )
    assert intake() == 1
    html = live(desk)
    assert visit.visitor.full_name not in section(html, "inside")
    assert section(html, "passages").count(visit.visitor.full_name) == 2


def test_a_refusal_and_an_unknown_face_are_open_incidents_handled_from_the_dashboard(
    enrolled: Callable[..., Visit],
    turnstile: Turnstile,
    security: User,
    hcp,
) -> None:
    expected = enrolled()  # expected now, not yet through the door
    early = enrolled(start=timezone.now() + timedelta(hours=2))
    turnstile.pass_(ENTRANCE, visit=early)
    turnstile.pass_(ENTRANCE, unknown_face=True)
    face = Incident.objects.get(kind=IncidentKind.FACE_NOT_RECOGNISED)
    denied = Incident.objects.get(kind=IncidentKind.DENIED)
    assert face.passage is not None
    fetch_picture_now(face.passage.pk, client=hcp)

    desk = signed_in(security)
    incidents = section(live(desk), "incidents")
    assert "Face not recognised" in incidents
    assert "Visitor refused at a door" in incidents
    assert early.visitor.full_name in incidents  # the refused visit
    # The visitors expected around the unknown face, to find the stuck guest among them.
    face_row = re.search(rf'data-key="incident-{face.pk}".*?</tr>', incidents, re.S)
    assert face_row is not None
    assert expected.visitor.full_name in face_row.group(0)
    assert reverse("passages:picture", args=[face.passage.pk]) in face_row.group(0)
    assert reverse("passages:acknowledge", args=[face.pk]) in face_row.group(0)

    # Acknowledge, then resolve with a note: the passages' audited views.
    assert desk.post(reverse("passages:acknowledge", args=[face.pk])).status_code == 302
    face.refresh_from_db()
    assert face.state == IncidentState.ACKNOWLEDGED
    incidents = section(live(desk), "incidents")
    row = re.search(rf'data-key="incident-{face.pk}".*?</tr>', incidents, re.S)
    assert row is not None
    assert "Acknowledged" in row.group(0)
    assert reverse("passages:acknowledge", args=[face.pk]) not in row.group(0)

    desk.post(reverse("passages:resolve", args=[face.pk]), {"note": "Гость прошёл с охраной"})
    face.refresh_from_db()
    assert (face.state, face.note) == (IncidentState.RESOLVED, "Гость прошёл с охраной")
    html = live(desk)
    assert f'data-key="incident-{face.pk}"' not in section(html, "incidents")
    assert f'data-key="incident-{denied.pk}"' in section(html, "incidents")
    assert (
        AuditEntry.objects.filter(action__in=["incident.acknowledged", "incident.resolved"]).count()
        == 2
    )


def test_expected_overstays_and_the_desk_check_in(
    daytime: datetime, make_visit: Callable[..., Visit], reception: User, security: User
) -> None:
    now = timezone.now()
    soon = make_visit(start=now + timedelta(minutes=30), minutes=60)
    with time_machine.travel(now - timedelta(hours=4)):
        over = make_visit(minutes=60)  # from 5 minutes ago for an hour, 4 hours back
        visit_services.check_in(visit=over, actor=reception)
    at_desk = make_visit()
    visit_services.check_in(visit=at_desk, actor=reception)
    cancelled = make_visit(start=now + timedelta(minutes=40))
    visit_services.cancel(visit=cancelled, actor=reception, reason="Перенесли встречу")

    html = live(signed_in(security))
    expected = section(html, "expected")
    assert soon.visitor.full_name in expected
    assert f'data-key="expected-{cancelled.pk}"' not in expected
    assert f'data-key="expected-{over.pk}"' not in expected
    overstays = section(html, "overstays")
    assert f'data-key="overstay-{over.pk}"' in overstays
    assert f'data-key="overstay-{at_desk.pk}"' not in overstays
    inside = section(html, "inside")
    row = re.search(rf'data-key="inside-{at_desk.pk}".*?</tr>', inside, re.S)
    assert row is not None
    assert "Checked in at the desk" in row.group(0)
    assert f'data-key="inside-{over.pk}"' in inside
    assert Visit.objects.get(pk=over.pk).status == VisitStatus.CHECKED_IN


def test_the_hikcentral_link_health(
    enrolled: Callable[..., Visit],
    make_visit: Callable[..., Visit],
    reception: User,
    security: User,
    drain,
    confirm,
) -> None:
    desk = signed_in(security)
    health = section(live(desk), "hcp")
    assert "calls going through" in health
    assert "no revocation confirmed today" in health

    visit = enrolled()
    visit_services.check_in(visit=visit, actor=reception)
    visit_services.check_out(visit=visit, actor=reception)
    waiting = section(live(desk), "hcp")
    assert re.search(r'id="revocations-waiting">1\b', waiting)
    pending = AccessWork.objects.filter(state=WorkState.PENDING).count()
    assert pending >= 1
    assert f"{pending} pending" in waiting
    make_visit()  # another visitor waits for their grant

    drain()
    confirm()
    visit.refresh_from_db()
    assert visit.access_revoked_at is not None
    assert visit.access_should_end_at is not None
    health = section(live(desk), "hcp")
    assert re.search(r'id="revocations-waiting">0\b', health)
    assert "no revocation confirmed today" not in health
    assert "Last change confirmed by HikCentral" in health
    confirmed = re.search(r"Last change confirmed by HikCentral</dt>\s*<dd>([^<]+)</dd>", health)
    assert confirmed is not None
    assert confirmed.group(1).strip() != "never"
