"""Faster desk work: search by name, phone or ID number; the host found by typing; a group
checked in together."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from propusk.accounts.roles import Role
from propusk.audit.models import AuditEntry
from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visits import services
from propusk.visits.models import VisitKind, VisitStatus
from tests.conftest import make_user
from tests.factories import make_iin, make_visitor

from .conftest import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def visitors_today(frozen_now, reception, host, guest_policy):
    """Three visitors expected today, each with a phone and an ID number of their own."""
    people = [
        ("Нурланова", "Айгерим", "+77011234567"),
        ("Сейткали", "Ерлан", "+77759876543"),
        ("Abenov", "Daniyar", "+77470001122"),
    ]
    made = {}
    for family, given, phone in people:
        iin = make_iin()
        visitor = make_visitor(family_name=family, given_name=given, phone=phone, national_id=iin)
        visit = services.register_visit(
            kind=VisitKind.GUEST,
            visitor=visitor,
            host=host,
            planned_start=NOW + timedelta(hours=1),
            planned_end=NOW + timedelta(hours=3),
            access_policy=guest_policy,
            actor=reception,
        )
        made[family] = (visit, iin)
    return made


def _names(response) -> list[str]:
    body = response.content.decode()
    return [name for name in ("Нурланова", "Сейткали", "Abenov") if name in body]


# --- Name and phone: a GET --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("Abenov", ["Abenov"]),
        ("abenov daniyar", ["Abenov"]),
        ("+7 701 123", ["Нурланова"]),
        ("8765", ["Сейткали"]),
        ("(747) 000-11-22", ["Abenov"]),
        ("8 701 123 45 67", ["Нурланова"]),  # stored as +77011234567
        ("+7 (775) 987-65-43", ["Сейткали"]),
        ("77", []),  # two digits are too few for a phone: a name search, nobody
    ],
)
def test_today_and_the_list_find_by_name_or_phone(client, reception, visitors_today, query, found):
    client.force_login(reception)
    today = client.get(reverse("visits:reception"), {"q": query})
    listed = client.get(reverse("visits:list"), {"q": query})
    assert today.status_code == listed.status_code == 200
    assert _names(today) == found
    assert _names(listed) == found


def test_an_id_number_in_the_get_search_looks_nothing_up(client, reception, visitors_today):
    _, iin = visitors_today["Abenov"]
    client.force_login(reception)
    response = client.get(reverse("visits:list"), {"q": iin})
    assert _names(response) == []
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()


# --- The ID number: a POST, audited ---------------------------------------------------------


@pytest.mark.parametrize("on", ["today", "list"])
def test_reception_finds_visits_by_id_number_with_a_post(client, reception, visitors_today, on):
    visit, iin = visitors_today["Сейткали"]
    client.force_login(reception)
    response = client.post(reverse("visits:search_by_id"), {"national_id": iin, "on": on})

    assert response.status_code == 200  # the page itself: no redirect, no number in a URL
    assert _names(response) == ["Сейткали"]
    assert "found by the ID number" in response.content.decode()
    entry = AuditEntry.objects.get(action="visitor.looked_up")
    assert entry.actor == reception
    assert entry.target_id == str(visit.visitor_id)
    assert entry.changes["via"] == "visit_search"
    assert iin not in str(entry.changes)


def test_an_unknown_id_number_finds_nobody(client, reception, visitors_today):
    client.force_login(reception)
    response = client.post(
        reverse("visits:search_by_id"), {"national_id": make_iin(), "on": "today"}
    )
    assert response.status_code == 200
    assert _names(response) == []
    assert "No visitor with this ID number." in response.content.decode()


@pytest.mark.parametrize("on", ["today", "list"])
def test_a_malformed_id_number_is_explained_and_narrows_nothing(
    client, reception, visitors_today, on
):
    """Nothing was searched for: the page stays whole (not "nobody expected, nobody
    inside"), with no "Show all" as if it were a search result."""
    client.force_login(reception)
    response = client.post(reverse("visits:search_by_id"), {"national_id": "12345", "on": on})
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert _names(response) == ["Нурланова", "Сейткали", "Abenov"]
    assert "Show all" not in response.content.decode()
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()


@pytest.mark.parametrize("persona", ["host", "security"])
def test_only_those_who_may_look_up_search_by_id_number(client, request, visitors_today, persona):
    _, iin = visitors_today["Abenov"]
    client.force_login(request.getfixturevalue(persona))
    response = client.post(reverse("visits:search_by_id"), {"national_id": iin, "on": "list"})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="visitor.looked_up").exists()
    # ...and the list shows them no ID number search.
    assert "search_by_id" not in client.get(reverse("visits:list")).content.decode()
    assert reverse("visits:search_by_id") not in client.get(reverse("visits:list")).content.decode()


def test_the_id_search_is_a_post_form_on_both_pages(client, reception, visitors_today):
    client.force_login(reception)
    for page in ("visits:reception", "visits:list"):
        body = client.get(reverse(page)).content.decode()
        action = f'method="post" action="{reverse("visits:search_by_id")}"'
        assert action in body


# --- The host by typing ---------------------------------------------------------------------


def test_host_search_returns_matches_by_name_or_department(
    client, reception, host, other_host, department, other_department
):
    client.force_login(reception)
    by_name = client.get(reverse("visits:host_search"), {"q": "alice"}).json()
    assert [r["id"] for r in by_name["results"]] == [host.pk]
    assert by_name["results"][0]["department"] == department.name
    by_department = client.get(
        reverse("visits:host_search"), {"q": other_department.name.split()[-1]}
    ).json()
    assert [r["id"] for r in by_department["results"]] == [other_host.pk]


def test_host_search_returns_at_most_twenty(client, reception, department):
    for n in range(25):
        make_user(f"teacher{n:02d}", Role.HOST, department=department)
    client.force_login(reception)
    results = client.get(reverse("visits:host_search"), {"q": "teacher"}).json()["results"]
    assert len(results) == 20


def test_host_search_is_for_the_desk_only(client, host, no_role_user):
    client.force_login(host)
    assert client.get(reverse("visits:host_search"), {"q": "a"}).status_code == 403
    client.force_login(no_role_user)
    assert client.get(reverse("visits:host_search"), {"q": "a"}).status_code == 403
    client.logout()
    response = client.get(reverse("visits:host_search"), {"q": "a"})
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_the_desk_form_offers_the_typed_search_over_the_select(client, reception):
    client.force_login(reception)
    body = client.get(reverse("visits:register")).content.decode()
    assert f'data-host-search="{reverse("visits:host_search")}"' in body
    assert 'name="host"' in body  # the plain select stays


# --- A group checked in together ---------------------------------------------------------


@pytest.fixture
def group_of_three(frozen_now, host, reception, guest_policy):
    invitation = create_invitation(
        host=host,
        actor=reception,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=NOW + timedelta(minutes=10),
        planned_end=NOW + timedelta(hours=2),
        max_uses=5,
        group_name="School No. 12",
    )
    members = [
        services.register_group_member(
            group=invitation.group,
            visitor=make_visitor(family_name=name, national_id=make_iin()),
            actor=reception,
        )
        for name in ("Ахметов", "Бекова", "Жумабаев")
    ]
    return invitation, members


def test_reception_checks_in_the_members_who_arrived(client, reception, group_of_three):
    invitation, (first, second, third) = group_of_three
    client.force_login(reception)
    page = client.get(reverse("invitations:detail", args=[invitation.pk])).content.decode()
    assert "Check in all who arrived" in page
    assert page.count('name="visit"') == 3

    response = client.post(
        reverse("visits:group_check_in", args=[invitation.group.pk]),
        {"visit": [first.pk, third.pk]},
        follow=True,
    )
    assert "2 members checked in" in response.content.decode()
    for visit in (first, second, third):
        visit.refresh_from_db()
    assert {visit.pk: visit.status for visit in (first, second, third)} == {
        first.pk: VisitStatus.CHECKED_IN,
        second.pk: VisitStatus.AWAITING,
        third.pk: VisitStatus.CHECKED_IN,
    }
    assert AuditEntry.objects.filter(action="visit.checked_in").count() == 2


def test_a_member_that_cannot_be_checked_in_is_named(client, reception, group_of_three):
    invitation, (first, second, _third) = group_of_three
    services.cancel(visit=second, actor=reception, reason="ill")
    client.force_login(reception)
    response = client.post(
        reverse("visits:group_check_in", args=[invitation.group.pk]),
        {"visit": [first.pk, second.pk]},
        follow=True,
    )
    body = response.content.decode()
    assert "1 member checked in" in body
    assert "Not checked in: Бекова" in body
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == VisitStatus.CHECKED_IN
    assert second.status == VisitStatus.CANCELLED


def test_forged_member_ids_are_ignored_not_a_server_error(client, reception, group_of_three):
    """ "²" passes str.isdigit but not int(); 10**30 overflows the database's integer."""
    invitation, (first, second, _third) = group_of_three
    client.force_login(reception)
    response = client.post(
        reverse("visits:group_check_in", args=[invitation.group.pk]),
        {"visit": ["²", "9" * 30, "-1", first.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 member checked in" in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (VisitStatus.CHECKED_IN, VisitStatus.AWAITING)


def test_hosts_may_not_check_their_group_in(client, host, group_of_three):
    invitation, members = group_of_three
    client.force_login(host)
    page = client.get(reverse("invitations:detail", args=[invitation.pk])).content.decode()
    assert "Check in all who arrived" not in page
    client.post(
        reverse("visits:group_check_in", args=[invitation.group.pk]),
        {"visit": [m.pk for m in members]},
    )
    for member in members:
        member.refresh_from_db()
        assert member.status == VisitStatus.AWAITING
