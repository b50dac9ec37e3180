"""Fixtures for the visit tests: visitors, visits in each status, a frozen clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from propusk.access.models import AccessLevelPolicy
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit, VisitKind, VisitStatus

ALMATY = ZoneInfo("Asia/Almaty")
# A fixed working-day moment in the site's time zone: Tuesday 10:00 in Almaty.
NOW = datetime(2030, 3, 12, 10, 0, tzinfo=ALMATY)


@pytest.fixture
def frozen_now(time_machine: Any) -> datetime:
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def make_visitor_row(db: None) -> Callable[..., Visitor]:
    """A visitor with a face photo and consent, created directly (no photo processing)."""
    counter = iter(range(1, 10_000))

    def make(**overrides: Any) -> Visitor:
        number = next(counter)
        values: dict[str, Any] = {
            "family_name": f"Guestova{number}",
            "given_name": "Aigerim",
            "phone": "+77011234567",
            "photo": f"faces/test/{number}.jpg",
            "consent_given_at": timezone.now(),
            "consent_text_version": "test",
        }
        values.update(overrides)
        return Visitor.objects.create(**values)

    return make


@pytest.fixture
def visitor(make_visitor_row: Callable[..., Visitor]) -> Visitor:
    return make_visitor_row()


@pytest.fixture
def make_visit(
    visitor: Visitor, host: User, guest_policy: AccessLevelPolicy
) -> Callable[..., Visit]:
    """A visit row in any status, written directly (the services are under test elsewhere)."""

    def make(**overrides: Any) -> Visit:
        start = overrides.pop("planned_start", timezone.now() + timedelta(hours=1))
        values: dict[str, Any] = {
            "kind": VisitKind.GUEST,
            "status": VisitStatus.AWAITING,
            "visitor": visitor,
            "host": host,
            "planned_start": start,
            "planned_end": start + timedelta(hours=2),
            "access_policy": guest_policy,
        }
        values.update(overrides)
        if values["status"] in (VisitStatus.CHECKED_IN, VisitStatus.CHECKED_OUT):
            values.setdefault("checked_in_at", values["planned_start"])
        if values["status"] == VisitStatus.CHECKED_OUT:
            values.setdefault("checked_out_at", values["planned_start"] + timedelta(minutes=30))
        return Visit.objects.create(**values)

    return make
