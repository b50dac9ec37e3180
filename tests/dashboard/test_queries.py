"""The dashboard and the evacuation list read the same few queries whatever the number of
people inside: they are polled every few seconds by every security screen."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hikcentral.push import FACE_RECOGNITION_FAILED, GRANTED_BY_FACE, INVALID_TIME_PERIOD
from propusk.events.models import Direction, EventSource, HcpEvent
from propusk.passages.handler import handle_event
from propusk.passages.models import Passage
from propusk.visits import services as visit_services
from propusk.visits.models import Visit
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

_ids = itertools.count(1)


def door_event(visit: Visit | None, event_type: int, *, direction: int = Direction.IN) -> None:
    """A door event as the intake stores it (HikCentral's push or poll), handled."""
    event = HcpEvent.objects.create(
        event_id=f"q-{next(_ids)}",
        event_type=event_type,
        happened_at=timezone.now() - timedelta(seconds=30),
        door_index_code="1",
        door_name="Главный вход, турникет 1",
        person_code=visit.visitor.person_code if visit else "",
        direction=direction,
        source=EventSource.PUSH,
    )
    handle_event(event)


def add_people(make_visit: Callable[..., Visit], reception: User, count: int) -> None:
    """``count`` visitors inside (half through the turnstile, half at the desk), one expected
    visitor refused, one unknown face: every section has rows."""
    for n in range(count):
        visit = make_visit()
        if n % 2:
            door_event(visit, GRANTED_BY_FACE)
        else:
            visit_services.check_in(visit=visit, actor=reception)
    early = make_visit(start=timezone.now() + timedelta(hours=1))
    door_event(early, INVALID_TIME_PERIOD)
    door_event(None, FACE_RECOGNITION_FAILED)


def get(client: Client, name: str) -> None:
    if name == "dashboard:live_quick":
        response = client.get(reverse("dashboard:live"), {"parts": "quick"})
    else:
        response = client.get(reverse(name))
    assert response.status_code == 200


def queries(client: Client, name: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        get(client, name)
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    "name",
    ["dashboard:dashboard", "dashboard:live", "dashboard:live_quick", "dashboard:evacuation_csv"],
)
def test_the_number_of_queries_does_not_grow_with_the_people_inside(
    make_visit: Callable[..., Visit],
    reception: User,
    security: User,
    name: str,
    django_assert_max_num_queries,
) -> None:
    client = Client()
    assert client.login(username=security.username, password=PASSWORD)
    add_people(make_visit, reception, 4)
    few = queries(client, name)
    add_people(make_visit, reception, 40)
    assert Passage.objects.filter(granted=True).count() == 22
    many = queries(client, name)
    assert many == few, (few, many)
    with django_assert_max_num_queries(20):
        get(client, name)
