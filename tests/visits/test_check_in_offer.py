"""Check-in is offered exactly when ``services.check_in`` would accept it: inside the visit's
access window (planned window widened by the policy's grace, 15 minutes each side here), not
on a visit that starts tomorrow nor on one whose window is over."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visits import services
from propusk.visits.lifecycle import VisitAction
from propusk.visits.models import Visit, VisitStatus
from propusk.visits.permissions import available_actions, check_in_opens_later
from tests.factories import make_iin, make_visitor

from .conftest import NOW

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def tomorrows_visit(make_visit, make_visitor_row, reception, frozen_now):
    """Registered at the desk today for tomorrow 10:00-12:00 (so in reception's scope)."""
    return make_visit(
        visitor=make_visitor_row(family_name="Сейтказиева", given_name="Айгерим"),
        planned_start=NOW + timedelta(days=1),
        created_by=reception,
    )


# --- One rule: the button and the service agree at every moment ---------------------------


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (-16 * MINUTE, False),  # before the early-arrival grace
        (-15 * MINUTE, True),  # the grace opens
        (0 * MINUTE, True),
        (2 * HOUR, True),  # planned end
        (2 * HOUR + 15 * MINUTE, True),  # the late-leave grace closes
        (2 * HOUR + 16 * MINUTE, False),
    ],
)
def test_check_in_is_offered_exactly_when_the_service_accepts_it(
    make_visit, reception, time_machine, offset, accepted
):
    visit = make_visit(planned_start=NOW)
    moment = NOW + offset
    time_machine.move_to(moment, tick=False)
    offered = VisitAction.CHECK_IN in available_actions(reception, visit)
    try:
        services.check_in(visit=visit, actor=reception)
    except ValidationError:
        took = False
    else:
        took = True
    assert offered is took is accepted


# --- The visit page ----------------------------------------------------------------------


def test_visit_page_offers_no_check_in_for_tomorrow_but_says_when_it_opens(
    client, reception, tomorrows_visit
):
    client.force_login(reception)
    body = client.get(reverse("visits:detail", args=[tomorrows_visit.pk])).content.decode()
    assert reverse("visits:check_in", args=[tomorrows_visit.pk]) not in body
    assert "Check-in opens at 13.03.2030 09:45." in body  # Almaty time, early grace 15 min
    # What is offered still works; the check-in is still refused if posted anyway.
    assert reverse("visits:cancel", args=[tomorrows_visit.pk]) in body
    response = client.post(reverse("visits:check_in", args=[tomorrows_visit.pk]), follow=True)
    assert "Too early: check-in for this visit opens at 13.03.2030 09:45." in (
        response.content.decode()
    )
    assert Visit.objects.get(pk=tomorrows_visit.pk).status == VisitStatus.AWAITING


def test_visit_page_offers_check_in_inside_the_window(client, reception, make_visit, frozen_now):
    visit = make_visit(planned_start=NOW + 10 * MINUTE)
    client.force_login(reception)
    body = client.get(reverse("visits:detail", args=[visit.pk])).content.decode()
    assert reverse("visits:check_in", args=[visit.pk]) in body
    assert "Check-in opens at" not in body


def test_the_hint_is_only_for_those_who_check_in(host, security, reception, tomorrows_visit):
    assert check_in_opens_later(host, tomorrows_visit) is None
    assert check_in_opens_later(security, tomorrows_visit) is None
    assert check_in_opens_later(reception, tomorrows_visit) == NOW + timedelta(days=1) - 15 * MINUTE


# --- Lists: Today and the group's page ---------------------------------------------------


def test_today_offers_check_in_only_to_visits_whose_window_is_open(
    client, reception, make_visit, make_visitor_row, frozen_now
):
    soon = make_visit(
        visitor=make_visitor_row(family_name="Ахметов", given_name="Нурлан"),
        planned_start=NOW + 10 * MINUTE,
    )
    evening = make_visit(
        visitor=make_visitor_row(family_name="Бекова", given_name="Дана"),
        planned_start=NOW + 8 * HOUR,
    )
    missed = make_visit(  # 07:00-08:00, the late grace ended at 08:15: not checked in
        visitor=make_visitor_row(family_name="Иванова", given_name="Мария"),
        planned_start=NOW - 3 * HOUR,
        planned_end=NOW - 2 * HOUR,
    )
    client.force_login(reception)
    body = client.get(reverse("visits:reception")).content.decode()
    assert "Бекова" in body
    assert "Иванова" in body
    assert reverse("visits:check_in", args=[soon.pk]) in body
    assert reverse("visits:check_in", args=[evening.pk]) not in body
    assert reverse("visits:check_in", args=[missed.pk]) not in body


def test_the_group_page_does_not_tick_members_not_yet_due(
    client, reception, host, guest_policy, time_machine
):
    time_machine.move_to(NOW, tick=False)
    invitation = create_invitation(
        host=host,
        actor=reception,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=NOW + timedelta(days=1),
        planned_end=NOW + timedelta(days=1, hours=2),
        max_uses=5,
        group_name="School No. 12",
    )
    services.register_group_member(
        group=invitation.group,
        visitor=make_visitor(family_name="Жумабаев", national_id=make_iin()),
        actor=reception,
    )
    client.force_login(reception)
    page = client.get(reverse("invitations:detail", args=[invitation.pk])).content.decode()
    assert "Жумабаев" in page
    assert 'name="visit"' not in page
    assert "Check in all who arrived" not in page
