"""Passages at the simulator's turnstile check visits in and out (over real HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from propusk.events.models import Direction, EventState
from propusk.notifications.kinds import Kind
from propusk.notifications.models import Notification
from propusk.passages.models import Passage
from propusk.passages.selectors import inside_now, is_inside
from propusk.visits.history import history_rows
from propusk.visits.models import Visit, VisitStatus
from propusk.visits.selectors import visit_history
from tests.access.conftest import ENTRANCE
from tests.passages.conftest import EXIT_DOOR, Turnstile

pytestmark = pytest.mark.django_db


def test_first_entry_checks_the_visit_in_and_tells_the_host(
    enrolled: Callable[..., Visit], turnstile: Turnstile, host: User
) -> None:
    visit = enrolled()
    event = turnstile.pass_(ENTRANCE, visit=visit)

    assert event.state == EventState.DONE
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_IN
    assert visit.checked_in_at == event.happened_at
    passage = Passage.objects.get(event=event)
    assert (passage.visit_id, passage.granted, passage.direction) == (
        visit.pk,
        True,
        Direction.IN,
    )
    arrived = Notification.objects.get(kind=Kind.GUEST_ARRIVED)
    assert arrived.recipient == host
    assert arrived.key == f"passage:{passage.pk}"
    assert is_inside(visit) is True
    assert list(inside_now()) == [visit]


def test_single_pass_exit_checks_out_and_the_turnstile_then_refuses_the_face(
    enrolled: Callable[..., Visit], turnstile: Turnstile, drain: Callable[..., object], host: User
) -> None:
    visit = enrolled(single_pass=True)
    entry = turnstile.pass_(ENTRANCE, visit=visit)
    leaving = turnstile.pass_(EXIT_DOOR, visit=visit, direction="out")

    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_OUT
    assert (visit.checked_in_at, visit.checked_out_at) == (entry.happened_at, leaving.happened_at)
    assert (
        Notification.objects.filter(kind=Kind.VISIT_CHECKED_OUT_BY_EXIT, recipient=host).count()
        == 1
    )

    drain()  # the access engine revokes, as a worker would
    again = turnstile.attempt(ENTRANCE, visit=visit)
    assert not again.granted
    assert is_inside(visit) is False


def test_multi_pass_exits_and_reentries_are_recorded_and_the_visit_stays_open(
    enrolled: Callable[..., Visit], turnstile: Turnstile, host: User
) -> None:
    visit = enrolled()
    turnstile.pass_(ENTRANCE, visit=visit, at=_ago(3))
    turnstile.pass_(EXIT_DOOR, visit=visit, direction="out", at=_ago(2))
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_IN
    assert is_inside(visit) is False
    assert list(inside_now()) == []
    assert Notification.objects.filter(kind=Kind.GUEST_LEFT, recipient=host).count() == 1

    turnstile.pass_(ENTRANCE, visit=visit, at=_ago(1))
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_IN
    assert is_inside(visit) is True
    assert [p.direction for p in Passage.objects.filter(visit=visit)] == [
        Direction.IN,
        Direction.OUT,
        Direction.IN,
    ]
    # Arrival told once, not at the re-entry.
    assert Notification.objects.filter(kind=Kind.GUEST_ARRIVED).count() == 1


def test_the_same_event_twice_changes_nothing_the_second_time(
    enrolled: Callable[..., Visit], turnstile: Turnstile
) -> None:
    from propusk.audit.models import AuditEntry
    from propusk.passages.handler import handle_event

    visit = enrolled(single_pass=True)
    entry = turnstile.pass_(ENTRANCE, visit=visit)
    counts = (Passage.objects.count(), Notification.objects.count(), AuditEntry.objects.count())

    assert handle_event(entry) == EventState.DONE
    assert (
        Passage.objects.count(),
        Notification.objects.count(),
        AuditEntry.objects.count(),
    ) == counts
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_IN


def test_an_exit_processed_before_its_entry_ends_as_in_order(
    enrolled: Callable[..., Visit], turnstile: Turnstile
) -> None:
    from propusk.passages.handler import handle_event
    from propusk.passages.models import Incident, IncidentState

    visit = enrolled(single_pass=True)
    entry = turnstile.read(turnstile.attempt(ENTRANCE, visit=visit))
    leaving = turnstile.read(turnstile.attempt(EXIT_DOOR, visit=visit, direction="out"))

    handle_event(leaving)  # the exit first: for now an exit without an entry
    visit.refresh_from_db()
    assert visit.status == VisitStatus.AWAITING
    handle_event(entry)

    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_OUT
    assert (visit.checked_in_at, visit.checked_out_at) == (entry.happened_at, leaving.happened_at)
    # The incident raised while the entry was missing is closed by the system.
    assert [i.state for i in Incident.objects.filter(visit=visit)] == [IncidentState.RESOLVED]


def test_a_late_entry_moves_the_check_in_time_earlier(
    enrolled: Callable[..., Visit], turnstile: Turnstile
) -> None:
    from propusk.passages.handler import handle_event

    visit = enrolled()
    first = turnstile.read(turnstile.attempt(ENTRANCE, visit=visit, at=_ago(3)))
    second = turnstile.read(turnstile.attempt(ENTRANCE, visit=visit, at=_ago(1)))
    handle_event(second)
    handle_event(first)

    visit.refresh_from_db()
    assert visit.checked_in_at == first.happened_at


def test_an_event_for_a_cancelled_visit_never_revives_it(
    enrolled: Callable[..., Visit], turnstile: Turnstile, reception: User
) -> None:
    from propusk.passages.handler import handle_event
    from propusk.visits import services

    visit = enrolled()
    entry = turnstile.read(turnstile.attempt(ENTRANCE, visit=visit))  # before the revoke
    services.cancel(visit=visit, actor=reception, reason="Встреча перенесена")

    assert handle_event(entry) == EventState.DONE
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CANCELLED
    assert visit.checked_in_at is None
    assert Passage.objects.get(event=entry).visit_id == visit.pk  # recorded on it all the same


def _ago(minutes: int):  # type: ignore[no-untyped-def]
    from django.utils import timezone

    return timezone.now() - timedelta(minutes=minutes)


def test_a_guest_arriving_within_the_early_grace_is_checked_in(
    enrolled: Callable[..., Visit], turnstile: Turnstile
) -> None:
    from django.utils import timezone

    visit = enrolled(start=timezone.now() + timedelta(minutes=10))  # the policy allows 15
    event = turnstile.pass_(ENTRANCE, visit=visit)
    visit.refresh_from_db()
    assert (visit.status, visit.checked_in_at) == (VisitStatus.CHECKED_IN, event.happened_at)


def test_a_returning_visitors_passage_lands_on_the_visit_of_that_time(
    enrolled: Callable[..., Visit], make_visit: Callable[..., Visit], turnstile: Turnstile
) -> None:
    from django.utils import timezone

    today = enrolled()
    tomorrow = make_visit(visitor_visit=today, start=timezone.now() + timedelta(days=1))
    event = turnstile.pass_(ENTRANCE, visit=today)
    assert Passage.objects.get(event=event).visit_id == today.pk
    tomorrow.refresh_from_db()
    assert tomorrow.status == VisitStatus.AWAITING


def test_the_visit_history_says_the_turnstile_checked_in_and_out_in_one_row_each(
    enrolled: Callable[..., Visit], turnstile: Turnstile, reception: User
) -> None:
    visit = enrolled(single_pass=True)
    turnstile.pass_(ENTRANCE, visit=visit)
    turnstile.pass_(EXIT_DOOR, visit=visit, direction="out")
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_OUT

    rows = history_rows(visit_history(visit).select_related("actor"))
    assert [(row.actor, row.action) for row in rows] == [
        (reception.get_full_name(), "Registered"),
        ("turnstile", "Checked in"),
        ("turnstile", "Checked out"),
    ]
    # The passages' own notes are still in the audit log, merged into those rows only.
    assert visit_history(visit).filter(action__startswith="passage.").count() == 2
