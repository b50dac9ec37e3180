"""Faster desk work in real Chromium: the host picked by typing (server-side search); a
mistyped ID number does not empty the day; a group member leads to the group."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visits import services
from propusk.visits.models import Visit, VisitKind, VisitStatus
from tests.factories import make_iin, make_jpeg, make_visitor

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    if os.environ.get("PROPUSK_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("The playwright package is not installed", allow_module_level=True)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_reception_picks_the_host_by_typing(login, reception, host, other_host, guest_policy):
    page = login(reception)
    page.goto("/visits/register/")
    expect(page.locator("select[name=host]")).to_be_hidden()  # enhanced: a text field instead
    field = page.get_by_role("combobox", name="Host")
    field.fill("Rector")  # other_host's department
    matches = page.get_by_role("listbox")
    option = matches.get_by_role("option", name="Bob Testova")
    expect(option).to_be_visible()
    expect(matches.get_by_role("option")).to_have_count(1)
    option.click()
    expect(field).to_have_value("Bob Testova (Rectorate)")

    page.check("input[name=mode][value=now]")
    page.fill("[name$=family_name]", "Сейткали")
    page.fill("[name$=given_name]", "Ерлан")
    page.fill("[name$=phone]", "+7 701 234 56 78")
    page.set_input_files(
        "input[type=file][name$=photo]",
        {"name": "face.jpg", "mimeType": "image/jpeg", "buffer": make_jpeg()},
    )
    page.check("input[type=checkbox][name$=consent]")
    page.get_by_role("button", name="Register", exact=True).click()
    expect(page.locator(".msg-success")).to_contain_text("Сейткали Ерлан")
    assert Visit.objects.get().host == other_host


def test_a_mistyped_id_number_keeps_today_whole(login, reception, host, guest_policy):
    visitor = make_visitor(family_name="Сейткали", given_name="Ерлан", phone="87771234567")
    visit = services.register_walk_in(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        planned_end=timezone.now() + timedelta(hours=2),
        access_policy=guest_policy,
        actor=reception,
    )
    services.check_in(visit=visit, actor=reception)
    page = login(reception)
    assert page.url.endswith("/visits/today/")
    number = page.get_by_label("National ID number (IIN)")  # as on the registration form
    valid = make_iin()
    number.fill(valid[:-1] + str((int(valid[-1]) + 1) % 10))  # the check digit is wrong
    number.press("Enter")
    expect(page.locator(".errorlist")).to_be_visible()
    # The desk still sees who is inside, not "nobody" because a digit was wrong.
    expect(page.locator("#inside")).to_contain_text("Сейткали Ерлан")
    expect(page.get_by_role("link", name="Show all")).to_have_count(0)

    # The phone as the visitor says it, +7 for the 8 they wrote.
    page.get_by_label("Name or phone").fill("+7 777 123 45 67")
    page.get_by_label("Name or phone").press("Enter")
    expect(page.locator("#inside")).to_contain_text("Сейткали Ерлан")
    expect(page.get_by_role("link", name="Show all")).to_be_visible()


def test_a_group_member_on_today_leads_to_the_group_checked_in_together(
    login, reception, host, guest_policy
):
    start = timezone.now() - timedelta(minutes=5)  # begun: on today's list at any hour
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Экскурсия",
        department=None,
        planned_start=start,
        planned_end=start + timedelta(hours=2),
        max_uses=30,
        group_name="Школа №12, 10 «Б»",
    )
    assert invitation.group is not None
    for family, given in (("Бекова", "Аружан"), ("Серікұлы", "Нұрсұлтан")):
        services.register_group_member(
            group=invitation.group,
            visitor=make_visitor(family_name=family, given_name=given),
            actor=reception,
        )
    page = login(reception)
    row = page.locator("#expected tr", has_text="Бекова Аружан")
    expect(row).to_contain_text("Group: Школа №12, 10 «Б»")
    row.get_by_role("link", name="Школа №12, 10 «Б»").click()
    page.wait_for_url(f"**/invitations/{invitation.pk}/")
    for arrived in page.get_by_role("checkbox", name="Arrived").all():
        arrived.check()
    page.get_by_role("button", name="Check in all who arrived").click()
    expect(page.locator("#members .badge", has_text="Checked in")).to_have_count(2)
    assert {v.status for v in Visit.objects.filter(group=invitation.group)} == {
        VisitStatus.CHECKED_IN
    }


def test_a_visit_of_tomorrow_offers_no_check_in_but_says_when_it_opens(
    login, reception, host, guest_policy
):
    """Registered at the desk for tomorrow: its page has no Check in button (the click would
    be refused), it says when check-in opens; today's visit still has the button."""
    start = timezone.localtime(timezone.now() + timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    tomorrow = services.register_visit(
        kind=VisitKind.GUEST,
        visitor=make_visitor(family_name="Сейтказиева", given_name="Айгерим"),
        host=host,
        planned_start=start,
        planned_end=start + timedelta(hours=2),
        access_policy=guest_policy,
        actor=reception,
    )
    today = services.register_walk_in(
        kind=VisitKind.GUEST,
        visitor=make_visitor(family_name="Жумабаев", given_name="Ерлан"),
        host=host,
        planned_end=timezone.now() + timedelta(hours=2),
        access_policy=guest_policy,
        actor=reception,
    )
    page = login(reception)
    page.goto(f"/visits/{tomorrow.pk}/")
    expect(page.get_by_role("button", name="Cancel visit")).to_be_visible()
    expect(page.get_by_role("button", name="Check in", exact=True)).to_have_count(0)
    opens = (start - timedelta(minutes=guest_policy.early_arrival_minutes)).strftime(
        "%d.%m.%Y %H:%M"
    )
    expect(page.locator(".check-in-opens")).to_have_text(f"Check-in opens at {opens}.")

    page.goto(f"/visits/{today.pk}/")
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(page.locator(".msg-success")).to_contain_text("Жумабаев Ерлан")
    today.refresh_from_db()
    assert today.status == VisitStatus.CHECKED_IN
