"""The staff pages over HTTP: the permission matrix, and what each page shows and does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from propusk.audit.models import AuditEntry
from propusk.visits.models import Visit, VisitStatus
from tests.conftest import PASSWORD

from .conftest import NOW

HOUR = timedelta(hours=1)


@pytest.fixture
def login(client, db):
    def as_user(user):
        if user is not None:
            assert client.login(username=user.username, password=PASSWORD)
        return client

    return as_user


@pytest.fixture
def today_visit(make_visit, frozen_now):
    """Alice's guest, expected 09:50-11:50 today (Almaty); check-in is open."""
    return make_visit(planned_start=NOW - timedelta(minutes=10))


# --- Pages -------------------------------------------------------------------------

PAGE_MATRIX = [
    # role, url name, expected status
    ("admin_user", "visits:list", 200),
    ("security", "visits:list", 200),
    ("reception", "visits:list", 200),
    ("host", "visits:list", 200),
    ("no_role_user", "visits:list", 403),
    ("admin_user", "visits:reception", 200),
    ("security", "visits:reception", 200),
    ("reception", "visits:reception", 200),
    ("host", "visits:reception", 403),
    ("no_role_user", "visits:reception", 403),
    ("admin_user", "visits:register", 200),
    ("security", "visits:register", 403),
    ("reception", "visits:register", 200),
    ("host", "visits:register", 200),
    ("no_role_user", "visits:register", 403),
]


@pytest.mark.parametrize(("who", "name", "expected"), PAGE_MATRIX)
def test_page_matrix(login, request, frozen_now, who, name, expected):
    response = login(request.getfixturevalue(who)).get(reverse(name))
    assert response.status_code == expected


@pytest.mark.parametrize("name", ["visits:list", "visits:reception", "visits:register"])
def test_pages_need_a_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


DETAIL_MATRIX = [
    ("admin_user", 200),
    ("security", 200),
    ("reception", 200),
    ("host", 200),
    ("other_host", 404),
    ("no_role_user", 403),
]


@pytest.mark.parametrize(("who", "expected"), DETAIL_MATRIX)
def test_detail_matrix(login, request, today_visit, who, expected):
    response = login(request.getfixturevalue(who)).get(
        reverse("visits:detail", args=[today_visit.pk])
    )
    assert response.status_code == expected


def test_reception_gets_404_for_a_visit_outside_today(login, reception, make_visit, frozen_now):
    visit = make_visit(planned_start=NOW + timedelta(days=3))
    response = login(reception).get(reverse("visits:detail", args=[visit.pk]))
    assert response.status_code == 404


def test_missing_visit_is_404(login, admin_user, db):
    assert login(admin_user).get(reverse("visits:detail", args=[99999])).status_code == 404


# --- Actions -----------------------------------------------------------------------

ACTION_SETUP = {
    # url name: (status before, POST data, status after)
    "visits:check_in": (VisitStatus.AWAITING, {}, VisitStatus.CHECKED_IN),
    "visits:check_out": (VisitStatus.CHECKED_IN, {}, VisitStatus.CHECKED_OUT),
    "visits:cancel": (VisitStatus.AWAITING, {"reason": "ill"}, VisitStatus.CANCELLED),
    "visits:confirm": (
        VisitStatus.PENDING,
        {"confirm-planned_start": "2030-03-12T10:30", "confirm-planned_end": "2030-03-12T12:00"},
        VisitStatus.AWAITING,
    ),
    "visits:change_window": (
        VisitStatus.AWAITING,
        {"window-planned_start": "2030-03-12T09:50", "window-planned_end": "2030-03-12T18:00"},
        VisitStatus.AWAITING,
    ),
}
ACTION_ALLOWED = {
    "admin_user": set(ACTION_SETUP),
    "reception": set(ACTION_SETUP),
    "host": {"visits:cancel", "visits:confirm", "visits:change_window"},
    "security": set(),
    "other_host": set(),
    "no_role_user": set(),
}
ACTION_MATRIX = [(who, name) for who in ACTION_ALLOWED for name in ACTION_SETUP]


@pytest.mark.parametrize(("who", "name"), ACTION_MATRIX)
def test_action_matrix(login, request, make_visit, frozen_now, who, name):
    before, data, after = ACTION_SETUP[name]
    visit = make_visit(status=before, planned_start=NOW - timedelta(minutes=10))
    snapshot = Visit.objects.filter(pk=visit.pk).values().get()

    response = login(request.getfixturevalue(who)).post(reverse(name, args=[visit.pk]), data)

    current = Visit.objects.filter(pk=visit.pk).values().get()
    if name in ACTION_ALLOWED[who]:
        assert response.status_code == 302, response.content.decode()[:2000]
        assert current["status"] == after
        assert AuditEntry.objects.filter(target_id=str(visit.pk)).count() == 1
        if name == "visits:change_window":
            assert current["planned_end"] == NOW.replace(hour=18)
    else:
        expected = {"other_host": 404}.get(who, 403)
        assert response.status_code == expected
        assert current == snapshot
        assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("name", list(ACTION_SETUP))
def test_actions_refuse_get(login, admin_user, today_visit, name):
    response = login(admin_user).get(reverse(name, args=[today_visit.pk]))
    assert response.status_code == 405


def test_actions_need_the_csrf_token(admin_user, today_visit):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("visits:check_in", args=[today_visit.pk]))
    assert response.status_code == 403
    assert Visit.objects.get(pk=today_visit.pk).status == VisitStatus.AWAITING


def test_refused_transition_shows_the_reason(login, reception, make_visit, frozen_now):
    visit = make_visit(status=VisitStatus.CANCELLED, planned_start=NOW)
    response = login(reception).post(reverse("visits:check_out", args=[visit.pk]), follow=True)
    assert "A cancelled visit cannot be checked out." in response.content.decode()
    assert Visit.objects.get(pk=visit.pk).status == VisitStatus.CANCELLED


def test_action_returns_to_the_page_it_came_from(login, reception, today_visit):
    response = login(reception).post(
        reverse("visits:check_in", args=[today_visit.pk]), {"next": reverse("visits:reception")}
    )
    assert response["Location"] == reverse("visits:reception")


def test_action_does_not_redirect_off_site(login, reception, today_visit):
    response = login(reception).post(
        reverse("visits:check_in", args=[today_visit.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("visits:detail", args=[today_visit.pk])


def test_change_window_form_errors_keep_the_input(login, host, today_visit):
    response = login(host).post(
        reverse("visits:change_window", args=[today_visit.pk]),
        {"window-planned_start": "2030-03-12T15:00", "window-planned_end": "2030-03-12T14:00"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "The visit must end after it starts." in body
    assert 'value="2030-03-12T15:00"' in body
    assert Visit.objects.get(pk=today_visit.pk).planned_end == today_visit.planned_end


def test_checked_in_visit_can_only_move_its_end(login, reception, make_visit, frozen_now):
    visit = make_visit(status=VisitStatus.CHECKED_IN, planned_start=NOW - HOUR)
    response = login(reception).post(
        reverse("visits:change_window", args=[visit.pk]),
        # A forged start is ignored: the field is disabled for a visitor who is inside.
        {"window-planned_start": "2030-03-12T05:00", "window-planned_end": "2030-03-12T20:00"},
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.planned_start == NOW - HOUR
    assert visit.planned_end == NOW.replace(hour=20)


@pytest.mark.parametrize(
    "value",
    ["2030-13-45T99:00", "tomorrow", "2030-03-12T10:00+03:00", "2030-03-12T10:00Z"],
)
def test_bad_datetime_input_is_refused(login, host, today_visit, value):
    response = login(host).post(
        reverse("visits:change_window", args=[today_visit.pk]),
        {"window-planned_start": "2030-03-12T09:50", "window-planned_end": value},
    )
    assert response.status_code == 400
    assert "Enter a date and time" in response.content.decode()
    assert Visit.objects.get(pk=today_visit.pk).planned_end == today_visit.planned_end


# --- What the pages show -----------------------------------------------------------


def test_detail_shows_the_visit_in_site_time_with_history_and_allowed_actions(
    login, reception, today_visit
):
    login(reception).post(reverse("visits:check_in", args=[today_visit.pk]))
    body = login(reception).get(reverse("visits:detail", args=[today_visit.pk])).content.decode()
    assert today_visit.visitor.full_name in body
    assert reverse("visits:photo", args=[today_visit.pk]) in body
    assert "12.03.2030 09:50 – 11:50" in body  # Almaty time, not UTC (04:50)  # noqa: RUF001
    assert "Checked in" in body  # status and history
    assert "reception" in body.lower()
    assert reverse("visits:check_out", args=[today_visit.pk]) in body
    assert reverse("visits:check_in", args=[today_visit.pk]) not in body
    assert reverse("visits:cancel", args=[today_visit.pk]) not in body


def test_detail_for_security_offers_no_actions(login, security, today_visit):
    body = login(security).get(reverse("visits:detail", args=[today_visit.pk])).content.decode()
    for name in ACTION_SETUP:
        assert reverse(name, args=[today_visit.pk]) not in body


def test_detail_for_the_host_offers_no_check_in(login, host, today_visit):
    body = login(host).get(reverse("visits:detail", args=[today_visit.pk])).content.decode()
    assert reverse("visits:check_in", args=[today_visit.pk]) not in body
    assert reverse("visits:cancel", args=[today_visit.pk]) in body
    assert reverse("visits:change_window", args=[today_visit.pk]) in body


def test_reception_page_lists_expected_and_inside(
    login, reception, make_visit, make_visitor_row, frozen_now
):
    expected = make_visit(visitor=make_visitor_row(family_name="Expectedova"), planned_start=NOW)
    inside = make_visit(
        visitor=make_visitor_row(family_name="Insideva"),
        status=VisitStatus.CHECKED_IN,
        planned_start=NOW - HOUR,
    )
    make_visit(
        visitor=make_visitor_row(family_name="Tomorrowova"), planned_start=NOW + timedelta(days=1)
    )
    body = login(reception).get(reverse("visits:reception")).content.decode()
    assert "Expectedova" in body
    assert "Insideva" in body
    assert "Tomorrowova" not in body
    assert reverse("visits:check_in", args=[expected.pk]) in body
    assert reverse("visits:check_out", args=[inside.pk]) in body
    assert body.index("Expectedova") < body.index("Insideva")


def test_reception_page_shows_dates_only_where_the_day_is_not_today(
    login, reception, make_visit, make_visitor_row, frozen_now
):
    make_visit(
        visitor=make_visitor_row(family_name="Todayova"),
        planned_start=NOW + HOUR,
        planned_end=NOW + 3 * HOUR,
    )
    make_visit(  # still inside since yesterday
        visitor=make_visitor_row(family_name="Overnightova"),
        status=VisitStatus.CHECKED_IN,
        planned_start=NOW - timedelta(days=1),
        planned_end=NOW + HOUR,
    )
    body = login(reception).get(reverse("visits:reception")).content.decode()
    dash = "\u2013"
    assert f"11:00 {dash} 13:00" in body  # today: times only (NOW is 10:00 in Almaty)
    assert f"12.03.2030 11:00 {dash} 13:00" not in body
    assert f"11.03.2030 10:00 {dash} 12.03.2030 11:00" in body


def test_list_shows_only_the_hosts_visits_and_filters(
    login, host, other_host, make_visit, make_visitor_row, frozen_now
):
    make_visit(visitor=make_visitor_row(family_name="Mine"))
    make_visit(visitor=make_visitor_row(family_name="Cancelledova"), status=VisitStatus.CANCELLED)
    make_visit(visitor=make_visitor_row(family_name="Bobsguest"), host=other_host)
    client = login(host)
    body = client.get(reverse("visits:list")).content.decode()
    assert "Mine" in body
    assert "Cancelledova" in body
    assert "Bobsguest" not in body
    filtered = client.get(reverse("visits:list"), {"status": "cancelled"}).content.decode()
    assert "Cancelledova" in filtered
    assert "Mine" not in filtered
    searched = client.get(reverse("visits:list"), {"q": "mine"}).content.decode()
    assert "Mine" in searched
    assert "Cancelledova" not in searched
    other_day = client.get(reverse("visits:list"), {"day": "2030-03-20"}).content.decode()
    assert "Mine" not in other_day


def test_list_for_security_shows_everyone(
    login, security, other_host, make_visit, make_visitor_row, frozen_now
):
    make_visit(visitor=make_visitor_row(family_name="Alicesguest"))
    make_visit(visitor=make_visitor_row(family_name="Bobsguest"), host=other_host)
    body = login(security).get(reverse("visits:list")).content.decode()
    assert "Alicesguest" in body
    assert "Bobsguest" in body
