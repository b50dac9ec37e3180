"""Refusals, unrecognised faces, bursts of failures, exits without an entry and overstays
become incidents, and the right people are told once (the simulator over real HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from hikcentral.push import CARD_EXPIRED, FACE_RECOGNITION_FAILED, INVALID_TIME_PERIOD
from propusk.access.models import AccessLevelPolicy
from propusk.access.windows import visit_window
from propusk.notifications.kinds import Kind
from propusk.notifications.models import Notification
from propusk.passages import selectors, services
from propusk.passages.models import DenialReason, Incident, IncidentKind, Passage
from propusk.visits import services as visit_services
from propusk.visits.models import Visit, VisitStatus
from tests.access.conftest import ENTRANCE
from tests.passages.conftest import EXIT_DOOR, Turnstile

pytestmark = pytest.mark.django_db


def told(kind: Kind) -> list[str]:
    return sorted(n.recipient.username for n in Notification.objects.filter(kind=kind))


def test_a_guest_too_early_is_an_incident_and_the_host_and_security_are_told(
    enrolled: Callable[..., Visit], turnstile: Turnstile, host: User, security: User
) -> None:
    visit = enrolled(start=timezone.now() + timedelta(hours=2))
    event = turnstile.pass_(ENTRANCE, visit=visit)

    assert event.event_type == INVALID_TIME_PERIOD
    passage = Passage.objects.get(event=event)
    assert (passage.granted, passage.visit_id, passage.denial_reason) == (
        False,
        visit.pk,
        DenialReason.TOO_EARLY,
    )
    incident = Incident.objects.get()
    assert (incident.kind, incident.visit_id, incident.denial_reason) == (
        IncidentKind.DENIED,
        visit.pk,
        DenialReason.TOO_EARLY,
    )
    assert told(Kind.GUEST_DENIED) == ["alice", "security"]
    denied = Notification.objects.filter(kind=Kind.GUEST_DENIED).first()
    assert denied is not None
    assert denied.params["reason"] == "too_early"
    visit.refresh_from_db()
    assert visit.status == VisitStatus.AWAITING


def test_an_attempt_after_a_single_pass_visit_ended_is_refused_and_reported(
    enrolled: Callable[..., Visit], turnstile: Turnstile, drain: Callable[..., object]
) -> None:
    visit = enrolled(single_pass=True)
    turnstile.pass_(ENTRANCE, visit=visit, at=timezone.now() - timedelta(minutes=2))
    turnstile.pass_(
        EXIT_DOOR, visit=visit, direction="out", at=timezone.now() - timedelta(minutes=1)
    )
    drain()

    refused = turnstile.pass_(ENTRANCE, visit=visit)
    # Revoked: the devices no longer hold the face at all.
    assert refused.event_type == FACE_RECOGNITION_FAILED
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_OUT
    assert Incident.objects.get().kind == IncidentKind.FACE_NOT_RECOGNISED


def test_a_refusal_after_check_out_names_the_visit_that_ended(
    make_visit: Callable[..., Visit], reception: User
) -> None:
    """A visitor refused after the desk checked them out (the device still knew them): the
    refusal is "the visit has ended", on that visit."""
    from propusk.events.models import Direction, EventSource, HcpEvent
    from propusk.passages.handler import handle_event

    visit = make_visit()
    visit_services.check_in(visit=visit, actor=reception)
    visit_services.check_out(visit=visit, actor=reception)
    event = HcpEvent.objects.create(
        event_id="refused-after-checkout",
        event_type=CARD_EXPIRED,
        happened_at=timezone.now(),
        door_index_code=ENTRANCE,
        door_name="Главный вход",
        person_code=visit.visitor.person_code,
        direction=Direction.IN,
        source=EventSource.PUSH,
    )
    handle_event(event)
    assert Passage.objects.get(event=event).denial_reason == DenialReason.VISIT_ENDED
    incident = Incident.objects.get()
    assert (incident.visit_id, incident.denial_reason) == (visit.pk, DenialReason.VISIT_ENDED)


def test_an_unrecognised_face_is_shown_to_reception_and_security_with_who_is_expected(
    enrolled: Callable[..., Visit],
    make_visit: Callable[..., Visit],
    turnstile: Turnstile,
    reception: User,
    security: User,
    host: User,
) -> None:
    expected = make_visit(start=timezone.now() + timedelta(minutes=10))
    later = make_visit(start=timezone.now() + timedelta(hours=5))
    event = turnstile.pass_(ENTRANCE, unknown_face=True)

    passage = Passage.objects.get(event=event)
    assert (passage.visitor_id, passage.visit_id, passage.granted) == (None, None, False)
    assert passage.event.pic_uri  # its camera picture is to be fetched
    incident = Incident.objects.get()
    assert incident.kind == IncidentKind.FACE_NOT_RECOGNISED
    assert incident.passage == passage
    assert told(Kind.FACE_NOT_RECOGNISED) == ["reception", "security"]
    around = list(selectors.expected_around(incident.happened_at))
    assert expected in around
    assert later not in around


def test_repeated_failures_at_one_door_escalate_once_per_burst(
    turnstile: Turnstile, security: User, reception: User
) -> None:
    start = timezone.now() - timedelta(minutes=4)
    for n in range(5):
        turnstile.pass_(ENTRANCE, unknown_face=True, at=start + timedelta(seconds=30 * n))

    burst = Incident.objects.get(kind=IncidentKind.REPEATED_FAILURES)
    assert burst.count == 5
    assert burst.door_index_code == ENTRANCE
    assert told(Kind.REPEATED_FAILURES) == ["security"]  # once, not at each failure
    assert Incident.objects.filter(kind=IncidentKind.FACE_NOT_RECOGNISED).count() == 5

    # Failures at another door are another matter; two are no burst.
    turnstile.pass_(EXIT_DOOR, unknown_face=True)
    turnstile.pass_(EXIT_DOOR, unknown_face=True)
    assert Incident.objects.filter(kind=IncidentKind.REPEATED_FAILURES).count() == 1


def test_an_exit_without_an_entry_is_reported_to_security(
    enrolled: Callable[..., Visit], turnstile: Turnstile, security: User
) -> None:
    visit = enrolled()
    turnstile.pass_(EXIT_DOOR, visit=visit, direction="out")

    incident = Incident.objects.get()
    assert (incident.kind, incident.visit_id) == (IncidentKind.EXIT_WITHOUT_ENTRY, visit.pk)
    assert told(Kind.EXIT_WITHOUT_ENTRY) == ["security"]
    visit.refresh_from_db()
    assert visit.status == VisitStatus.AWAITING


def test_a_visitor_still_inside_after_the_window_is_an_overstay_told_once(
    enrolled: Callable[..., Visit], turnstile: Turnstile, security: User, host: User
) -> None:
    visit = enrolled(start=timezone.now() - timedelta(minutes=50), minutes=60)
    turnstile.pass_(ENTRANCE, visit=visit, at=timezone.now() - timedelta(minutes=40))
    closes = visit_window(visit)[1]

    assert services.flag_overstays(now=closes + timedelta(minutes=5)) == 0  # within the grace
    later = closes + timedelta(minutes=16)
    visit_services.close_expired_visits(now=later)  # the expiry sweep checks it out
    assert services.flag_overstays(now=later) == 1
    assert services.flag_overstays(now=later + timedelta(minutes=1)) == 0

    incident = Incident.objects.get()
    assert (incident.kind, incident.visit_id) == (IncidentKind.OVERSTAY, visit.pk)
    assert told(Kind.OVERSTAY) == ["alice", "security"]


def test_a_visitor_who_left_is_no_overstay(
    enrolled: Callable[..., Visit], turnstile: Turnstile
) -> None:
    visit = enrolled(start=timezone.now() - timedelta(minutes=50), minutes=60)
    turnstile.pass_(ENTRANCE, visit=visit, at=timezone.now() - timedelta(minutes=40))
    turnstile.pass_(
        EXIT_DOOR, visit=visit, direction="out", at=timezone.now() - timedelta(minutes=30)
    )
    closes = visit_window(visit)[1]
    assert services.flag_overstays(now=closes + timedelta(minutes=30)) == 0


@pytest.fixture
def grace_policy(guest_policy: AccessLevelPolicy) -> AccessLevelPolicy:
    guest_policy.reentry_grace_minutes = 15
    guest_policy.save()
    return guest_policy


def test_reentry_grace_lets_a_single_pass_visitor_back_in_once(
    enrolled: Callable[..., Visit], turnstile: Turnstile, grace_policy: AccessLevelPolicy
) -> None:
    visit = enrolled(single_pass=True, start=timezone.now() - timedelta(minutes=30))
    now = timezone.now()
    turnstile.pass_(ENTRANCE, visit=visit, at=now - timedelta(minutes=20))
    turnstile.pass_(EXIT_DOOR, visit=visit, direction="out", at=now - timedelta(minutes=12))
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_IN  # may still come back

    turnstile.pass_(ENTRANCE, visit=visit, at=now - timedelta(minutes=5))
    assert services.settle_due_exits(now=now + timedelta(minutes=30)) == 0  # came back
    second = turnstile.pass_(EXIT_DOOR, visit=visit, direction="out", at=now - timedelta(minutes=1))

    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_OUT
    assert visit.checked_out_at == second.happened_at


def test_without_a_reentry_the_visit_is_checked_out_at_the_exit_when_the_grace_ends(
    enrolled: Callable[..., Visit], turnstile: Turnstile, grace_policy: AccessLevelPolicy
) -> None:
    visit = enrolled(single_pass=True, start=timezone.now() - timedelta(minutes=30))
    turnstile.pass_(ENTRANCE, visit=visit, at=timezone.now() - timedelta(minutes=10))
    leaving = turnstile.pass_(EXIT_DOOR, visit=visit, direction="out")

    assert services.settle_due_exits(now=leaving.happened_at + timedelta(minutes=14)) == 0
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_IN
    assert services.settle_due_exits(now=leaving.happened_at + timedelta(minutes=15)) == 1
    visit.refresh_from_db()
    assert (visit.status, visit.checked_out_at) == (VisitStatus.CHECKED_OUT, leaving.happened_at)


def test_failures_handled_in_reverse_order_escalate_once_too(
    turnstile: Turnstile, security: User
) -> None:
    from propusk.passages.handler import handle_event

    start = timezone.now() - timedelta(minutes=3)
    events = [
        turnstile.read(
            turnstile.attempt(ENTRANCE, unknown_face=True, at=start + timedelta(seconds=20 * n))
        )
        for n in range(4)
    ]
    for event in reversed(events):
        handle_event(event)
    burst = Incident.objects.get(kind=IncidentKind.REPEATED_FAILURES)
    assert burst.count == 4
    assert told(Kind.REPEATED_FAILURES) == ["security"]
