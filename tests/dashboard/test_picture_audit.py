"""The faces and camera pictures on the dashboard are audited - who saw whose face or
picture - without a row per picture at every load: a thumbnail in a list is recorded once a
day per viewer and picture; a face or picture opened on its own, every time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from hikcentral.push import GRANTED_BY_FACE
from propusk.audit.models import AuditEntry
from propusk.passages.models import Passage
from propusk.passages.services import store_picture
from propusk.visits.models import Visit
from tests.conftest import PASSWORD
from tests.factories import make_jpeg

from .test_queries import door_event

pytestmark = pytest.mark.django_db

VIEWS = ("visitor.photo_viewed", "passage.picture_viewed")


def signed_in(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def view_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action__in=VIEWS).order_by("pk"))


def load_dashboard(client: Client) -> int:
    """Open the dashboard as a browser does: the page, then every picture on it. Returns how
    many pictures it fetched."""
    html = client.get(reverse("dashboard:dashboard")).content.decode()
    sources = re.findall(r'<img[^>]*class="thumb"[^>]*src="([^"]+)"', html)
    sources += re.findall(r'<img[^>]*src="([^"]+)"[^>]*class="thumb"', html)
    for source in set(sources):
        response = client.get(source.replace("&amp;", "&"))
        assert response.status_code == 200, source
        assert response["Content-Type"] == "image/jpeg"
    return len(set(sources))


@pytest.fixture
def three_inside_with_pictures(make_visit: Callable[..., Visit]) -> list[Visit]:
    visits = [make_visit() for _ in range(3)]
    for visit in visits:
        door_event(visit, GRANTED_BY_FACE)
    for passage in Passage.objects.all():
        assert store_picture(passage.pk, make_jpeg()).state == "stored"
    return visits


def test_reloading_the_dashboard_does_not_write_a_row_per_picture_each_time(
    security: User, admin_user: User, three_inside_with_pictures: list[Visit]
) -> None:
    officer = signed_in(security)

    fetched = load_dashboard(officer)

    assert fetched == 6  # three faces inside, three camera pictures of their passages
    first = view_entries()
    # Who saw whose face or picture: one row each, marked as seen in a list.
    assert sorted((entry.action, entry.target_id) for entry in first) == sorted(
        [("visitor.photo_viewed", str(visit.visitor_id)) for visit in three_inside_with_pictures]
        + [("passage.picture_viewed", str(p.pk)) for p in Passage.objects.all()]
    )
    assert all(entry.actor == security for entry in first)

    for _ in range(5):
        assert load_dashboard(officer) == 6
    assert view_entries() == first  # five more loads, no more rows (there were 6 a load)
    assert all(entry.changes["shown"] == "in a list" for entry in first)

    # Another officer's views are their own; the next day counts again.
    load_dashboard(signed_in(admin_user))
    assert len(view_entries()) == 12
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert load_dashboard(signed_in(security)) == 6  # signed in again: a new day
    assert len(view_entries()) == 18


def test_a_picture_opened_on_its_own_is_audited_every_time(
    security: User, three_inside_with_pictures: list[Visit]
) -> None:
    officer = signed_in(security)
    load_dashboard(officer)
    passage = Passage.objects.order_by("pk").first()
    assert passage is not None
    before = len(view_entries())
    url = reverse("passages:picture", args=[passage.pk])

    for _ in range(2):
        assert officer.get(url).status_code == 200
    visit = three_inside_with_pictures[0]
    assert officer.get(reverse("visits:photo", args=[visit.pk])).status_code == 200

    opened = view_entries()[before:]
    assert [(entry.action, entry.target_id) for entry in opened] == [
        ("passage.picture_viewed", str(passage.pk)),
        ("passage.picture_viewed", str(passage.pk)),
        ("visitor.photo_viewed", str(visit.visitor_id)),
    ]
    assert all("shown" not in entry.changes for entry in opened)
