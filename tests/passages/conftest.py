"""Fixtures for passages: the real HCP simulator over HTTP (tests/access/conftest.py), visits
registered through the services with Russian and Kazakh names and faces of their own, the
access engine drained so the turnstile knows them, and a helper that makes a passage at the
simulator's turnstile, reads it back with the client (as the polling intake does), stores it
as an ``HcpEvent`` and runs the handler."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from hcp_simulator.testing import PassageResult, SimulatorHandle
from hikcentral import HikCentralClient
from hikcentral.models import DoorEvent
from propusk.access.models import AccessLevelPolicy
from propusk.access.reconciler import ReconcileResult
from propusk.events.models import Direction, EventSource, HcpEvent
from propusk.passages.handler import handle_event
from propusk.visitors.services import VisitorData
from propusk.visits import services as visit_services
from propusk.visits.models import Visit, VisitKind
from tests.access.conftest import (  # noqa: F401 - fixtures
    ENTRANCE,
    confirm,
    distinct_face,
    drain,
    hcp,
    hcp_settings,
    simulator,
    site,
)
from tests.factories import make_iin

NAMES = (
    ("Нурланова", "Айгерим"),
    ("Сейткали", "Ерлан"),
    ("Жумабаева", "Динара"),
    ("Ахметов", "Нурлан"),
    ("Касымова", "Әлия"),
)
EXIT_DOOR = "2"  # the demo site's second door, also in the guests' level


@pytest.fixture(autouse=True)
def _no_face_check(settings: Any) -> None:
    """The turnstile here recognises a face by its bytes: these tests use simple distinct
    pictures, which the face detector (visitors.faces) is not what is under test."""
    settings.FACE_CHECK = False


@pytest.fixture
def make_visit(
    reception: User, host: User, guest_policy: AccessLevelPolicy
) -> Callable[..., Visit]:
    """Reception registers a visit through the services (a new visitor each time)."""
    counter = itertools.count(1)

    def create(
        *,
        start: datetime | None = None,
        minutes: int = 120,
        single_pass: bool = False,
        policy: AccessLevelPolicy | None = None,
        visitor_visit: Visit | None = None,
    ) -> Visit:
        n = next(counter)
        begin = start or timezone.now() - timedelta(minutes=5)
        family, given = NAMES[n % len(NAMES)]
        chosen = policy or guest_policy

        def register(person: Any) -> Visit:
            return visit_services.register_visit(
                kind=VisitKind.GUEST,
                visitor=person,
                host=host,
                planned_start=begin,
                planned_end=begin + timedelta(minutes=minutes),
                access_policy=chosen,
                actor=reception,
                purpose="Семинар",
                single_pass=single_pass,
            )

        if visitor_visit is not None:
            visit = register(visitor_visit.visitor)
        else:
            data = VisitorData(
                family_name=family,
                given_name=given,
                middle_name="",
                phone="+77011234567",
                email="",
                national_id=make_iin(),
                photo_jpeg=distinct_face(n),
                consent=True,
            )
            visit = visit_services.register_with_visitor(
                visitor=data, actor=reception, register=register
            )
        return Visit.objects.select_related("visitor", "access_policy", "host").get(pk=visit.pk)

    return create


def face_of(visit: Visit) -> bytes:
    with visit.visitor.photo.open("rb") as stored:
        return stored.read()


def to_event(door_event: DoorEvent) -> HcpEvent:
    """Store a door event as the intake does (one row per eventId; no names kept)."""
    direction = (
        door_event.direction if door_event.direction in Direction.values else Direction.UNKNOWN
    )
    row, _ = HcpEvent.objects.get_or_create(
        event_id=door_event.event_id,
        defaults={
            "event_type": door_event.event_type,
            "happened_at": door_event.event_time,
            "door_index_code": door_event.door_index_code or "",
            "door_name": door_event.door_name or "",
            "person_id": door_event.person_id or "",
            "person_code": door_event.person_code or "",
            "direction": direction,
            "pic_uri": door_event.pic_uri or "",
            "source": EventSource.POLL,
        },
    )
    return row


@dataclass
class Turnstile:
    """Passages at the simulator's doors, read back as events and handled."""

    sim: SimulatorHandle
    client: HikCentralClient

    def attempt(
        self,
        door: str = ENTRANCE,
        *,
        visit: Visit | None = None,
        direction: str = "in",
        at: datetime | None = None,
        unknown_face: bool = False,
    ) -> PassageResult:
        if unknown_face:
            return self.sim.control.passage(door, unknown_face=True, direction=direction, at=at)
        assert visit is not None
        return self.sim.control.passage(door, face_jpeg=face_of(visit), direction=direction, at=at)

    def read(self, result: PassageResult) -> HcpEvent:
        """The event of one passage, read back through door/events as the polling does."""
        moment = datetime.fromisoformat(result.event_time)
        events = [
            event
            for event in self.client.search_door_events(
                moment - timedelta(seconds=1), moment + timedelta(seconds=1)
            )
            if event.event_id == result.event_id
        ]
        assert len(events) == 1, events
        return to_event(events[0])

    def pass_(self, *args: Any, **kwargs: Any) -> HcpEvent:
        """Make a passage, store its event and handle it; returns the stored event."""
        event = self.read(self.attempt(*args, **kwargs))
        state = handle_event(event)
        HcpEvent.objects.filter(pk=event.pk).update(state=state)
        event.refresh_from_db()
        return event


@pytest.fixture
def turnstile(site: SimulatorHandle, hcp: HikCentralClient) -> Turnstile:  # noqa: F811
    return Turnstile(site, hcp)


@pytest.fixture
def enrolled(
    make_visit: Callable[..., Visit],
    drain: Callable[..., ReconcileResult],  # noqa: F811
) -> Callable[..., Visit]:
    """A visit registered and its visitor applied to the doors (the access engine drained)."""

    def create(**kwargs: Any) -> Visit:
        visit = make_visit(**kwargs)
        drain()
        return visit

    return create
