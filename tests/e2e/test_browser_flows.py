"""Real user journeys in a real browser: what each person sees, and what the database holds.

English pages (the browser asks for en-US, the test settings default to English) so the
assertions read like the page; the language test switches with the RU/EN buttons.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest
from django.utils import timezone, translation

from propusk.audit.models import AuditEntry
from propusk.invitations.models import Invitation, InvitationKind
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
    # live_server needs real commits; serialized_rollback brings back the role groups
    # (created by a data migration) that the flush after each test removes.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    local = timezone.localtime() + timedelta(days=1)
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0)


def typed(moment: datetime) -> str:
    """A moment as a person enters it in a datetime-local input (site time zone)."""
    return timezone.localtime(moment).strftime(LOCAL_FORMAT)


def face_file(name: str = "face.jpg") -> dict[str, object]:
    return {"name": name, "mimeType": "image/jpeg", "buffer": make_jpeg()}


def fill_visitor(page, *, family: str, given: str, photo: bool = True) -> None:
    page.fill("[name$=family_name]", family)
    page.fill("[name$=given_name]", given)
    page.fill("[name$=phone]", "+7 701 234 56 78")
    if photo:
        page.set_input_files("input[type=file][name$=photo]", face_file())
    page.check("input[type=checkbox][name$=consent]")


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def expect_photo_loaded(page, selector: str = "img.photo") -> None:
    image = page.locator(selector)
    expect(image).to_be_visible()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )


# --- a. A host registers a planned guest visit with a photo ---------------------------


def test_host_registers_a_planned_visit_with_a_photo(login, host, guest_policy):
    page = login(host)
    page.get_by_role("link", name="Register a visit").first.click()
    expect(page.locator("h1")).to_have_text("Register a visit")
    expect(page.locator("input[name=mode][value=later]")).to_be_checked()
    expect(page.locator("#id_duration")).to_be_hidden()  # app.js: no duration for a planned visit

    start, end = tomorrow_at(10), tomorrow_at(12)
    page.fill("#id_planned_start", typed(start))
    page.fill("#id_planned_end", typed(end))
    page.fill("#id_purpose", "Thesis consultation")
    fill_visitor(page, family="Nurlanova", given="Aruzhan")
    page.get_by_role("button", name="Register", exact=True).click()

    expect(page.locator(".msg-success")).to_contain_text("Nurlanova Aruzhan")
    expect(page.locator("h1")).to_contain_text("Expected")
    expect_photo_loaded(page)
    detail_url = page.url

    page.get_by_role("link", name="Visits", exact=True).click()
    row = page.locator("tr", has_text="Nurlanova Aruzhan")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("Expected")
    row.get_by_role("link", name="Nurlanova Aruzhan").click()
    assert page.url == detail_url
    expect_photo_loaded(page)

    visit = Visit.objects.select_related("visitor").get()
    assert visit.status == VisitStatus.AWAITING
    assert visit.host == host
    assert visit.created_by == host
    assert visit.purpose == "Thesis consultation"
    assert (visit.planned_start, visit.planned_end) == (start, end)
    assert visit.visitor.photo
    assert visit.visitor.consent_given_at is not None
    assert visit.visitor.phone == "+77012345678"


# --- b. Reception checks a visitor in and out ------------------------------------------


def test_reception_checks_in_and_out(login, reception, host, guest_policy):
    visitor = make_visitor(family_name="Seitkali", given_name="Dana")
    visit = services.register_walk_in(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        planned_end=timezone.now() + timedelta(hours=2),
        access_policy=guest_policy,
        actor=reception,
        purpose="Job interview",
    )

    page = login(reception)
    expect(page.locator("h1")).to_contain_text("Today")
    row = page.locator("#expected tr", has_text="Seitkali Dana")
    expect(row.locator(".badge")).to_have_text("Expected")
    row.get_by_role("button", name="Check in").click()

    expect(page.locator(".msg-success")).to_have_text("Seitkali Dana is checked in.")
    expect(page.locator("#expected tr", has_text="Seitkali Dana")).to_have_count(0)
    row = page.locator("#inside tr", has_text="Seitkali Dana")
    expect(row.locator(".badge")).to_have_text("Checked in")
    row.get_by_role("button", name="Check out").click()

    expect(page.locator(".msg-success")).to_have_text("Seitkali Dana is checked out.")
    expect(page.locator("#inside tr", has_text="Seitkali Dana")).to_have_count(0)
    row = page.locator("#finished tr", has_text="Seitkali Dana")
    expect(row.locator(".badge")).to_have_text("Checked out")

    row.get_by_role("link", name="Seitkali Dana").click()
    expect(page.locator("h1 .badge")).to_have_text("Checked out")
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(3)
    expect(history.filter(has_text="Checked in").first).to_contain_text("Reception Testova")
    expect(history.filter(has_text="Checked out").first).to_contain_text("Reception Testova")
    expect_photo_loaded(page)

    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_OUT
    assert visit.checked_in_at is not None
    assert visit.checked_out_at is not None
    assert visit.checked_in_at <= visit.checked_out_at
    actions = list(
        AuditEntry.objects.filter(target_id=str(visit.pk), action__startswith="visit.")
        .order_by("pk")
        .values_list("action", "actor")
    )
    assert actions == [
        ("visit.registered", reception.pk),
        ("visit.checked_in", reception.pk),
        ("visit.checked_out", reception.pk),
    ]


# --- c. A form error keeps what the user typed -----------------------------------------


def test_register_error_keeps_input_and_photo(login, host, guest_policy):
    page = login(host)
    page.goto("/visits/register/")
    start = tomorrow_at(14)
    page.fill("#id_planned_start", typed(start))
    page.fill("#id_planned_end", typed(start - timedelta(hours=1)))
    fill_visitor(page, family="Omarov", given="Timur")
    page.get_by_role("button", name="Register", exact=True).click()

    end_field = page.locator(".field", has=page.locator("#id_planned_end"))
    expect(end_field.locator(".errorlist")).to_have_text("The visit must end after it starts.")
    expect(page.locator("#id_visitor-family_name")).to_have_value("Omarov")
    expect(page.locator("#id_visitor-given_name")).to_have_value("Timur")
    expect(page.locator("#id_planned_start")).to_have_value(typed(start))
    expect(page.locator(".photo-received")).to_contain_text("Photo received")
    expect_photo_loaded(page, ".photo-received img")
    expect(page.locator("#id_visitor-consent")).to_be_checked()
    assert not Visit.objects.exists()

    page.fill("#id_planned_end", typed(start + timedelta(hours=1)))
    page.get_by_role("button", name="Register", exact=True).click()  # no new photo chosen
    expect(page.locator(".msg-success")).to_contain_text("Omarov Timur")
    expect_photo_loaded(page)

    visit = Visit.objects.select_related("visitor").get()
    assert visit.visitor.full_name == "Omarov Timur"
    assert visit.visitor.photo
    assert visit.planned_end == start + timedelta(hours=1)


# --- d. A visitor registers on a phone; the host confirms the time ----------------------


def test_visitor_registers_on_a_phone_and_host_confirms(new_page, login, host, guest_policy):
    page = login(host)
    page.get_by_role("link", name="Invitations").click()
    page.get_by_role("link", name="New invitation").click()
    # An empty department is the host's, and the list says so (not Django's "---------").
    department = page.get_by_label("Department")
    expect(department.locator("option").first).to_have_text("The host's department")
    page.get_by_label("Purpose").fill("Thesis defence")
    page.get_by_role("button", name="Create the link").click()
    expect(page.locator(".msg-success")).to_contain_text("send the link to your visitor")
    link = page.locator(".copy-link input").input_value()
    invitation = Invitation.objects.get()
    assert (invitation.host, invitation.kind) == (host, InvitationKind.SINGLE)
    assert invitation.department == host.profile.department
    assert link.endswith(f"/invitations/i/{invitation.token}/")

    phone = new_page(phone=True)
    phone.goto(link)
    expect(phone.locator("h1")).to_have_text("Register for your visit")
    expect(phone.locator("body")).to_contain_text("Thesis defence")
    expect(phone.locator(".mainnav")).to_have_count(0)  # not signed in
    assert no_horizontal_scroll(phone)

    fill_visitor(phone, family="Abenova", given="Madina")
    expect_photo_loaded(phone, ".photo-preview")  # the chosen photo is shown before sending
    phone.get_by_role("button", name="Send").tap()
    expect(phone.locator("h1")).to_have_text("Thank you, Madina!")
    expect(phone.locator("body")).to_contain_text("will confirm the time")
    assert no_horizontal_scroll(phone)

    visit = Visit.objects.select_related("visitor").get()
    assert visit.status == VisitStatus.PENDING
    assert visit.invitation == invitation
    assert visit.visitor.photo
    invitation.refresh_from_db()
    assert invitation.uses_count == 1

    page.goto(f"/visits/{visit.pk}/")
    expect(page.locator("h1 .badge")).to_have_text("Awaiting confirmation")
    expect_photo_loaded(page)
    start, end = tomorrow_at(11), tomorrow_at(12, 30)
    page.fill("#id_confirm-planned_start", typed(start))
    page.fill("#id_confirm-planned_end", typed(end))
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.locator(".msg-success")).to_have_text("The time of the visit is confirmed.")
    expect(page.locator("h1 .badge")).to_have_text("Expected")

    visit.refresh_from_db()
    assert visit.status == VisitStatus.AWAITING
    assert (visit.planned_start, visit.planned_end) == (start, end)


# --- f. Reception adds a returning visitor to a group at the desk ----------------------


def test_reception_adds_a_returning_visitor_to_a_group(login, reception, host, guest_policy):
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.GROUP,
        access_policy=guest_policy,
        purpose="Open day",
        department=None,
        planned_start=tomorrow_at(10),
        planned_end=tomorrow_at(12),
        max_uses=30,
        group_name="School No. 12",
    )
    iin = make_iin()
    returning = make_visitor(family_name="Returnova", given_name="Saule", national_id=iin)
    face = returning.photo.name

    page = login(reception)
    page.goto(f"/invitations/{invitation.pk}/")
    page.get_by_role("link", name="Register a member").click()
    expect(page.locator("h1")).to_have_text("Register a member of the group")
    expect(page.locator("#group")).to_contain_text("School No. 12")

    page.fill("#id_visitor-national_id", iin)
    page.press("#id_visitor-national_id", "Enter")  # app.js: Enter here means "Find"
    expect(page.locator(".lookup .msg")).to_contain_text("Returnova Saule has been here before")
    expect(page.locator("#id_visitor-family_name")).to_have_value("Returnova")
    expect_photo_loaded(page, ".photo-on-file img")
    page.check("#id_visitor-consent")
    page.get_by_role("button", name="Register", exact=True).click()  # no new photo

    expect(page.locator(".msg-success")).to_contain_text("Returnova Saule")
    row = page.locator("#members tr", has_text="Returnova Saule")
    expect(row.locator(".badge")).to_have_text("Expected")
    expect(row).to_contain_text("by Reception Testova")

    visit = Visit.objects.get()
    assert visit.group == invitation.group
    assert visit.visitor_id == returning.pk
    returning.refresh_from_db()
    assert returning.photo.name == face
    invitation.refresh_from_db()
    assert invitation.uses_count == 0
    assert AuditEntry.objects.filter(action="visitor.looked_up", actor=reception).count() == 1


# --- f. A guest invited with a known ID number is confirmed at arrival --------------------


def test_reception_confirms_a_returning_guest_registered_by_a_host(
    login, host, reception, guest_policy
):
    iin = make_iin()
    stored = make_visitor(family_name="Returnova", given_name="Saule", national_id=iin)

    page = login(host)  # the host types the number; the page answers as for a new one
    page.get_by_role("link", name="Register a visit").first.click()
    page.check("input[name=mode][value=now]")
    page.fill("#id_visitor-national_id", iin)
    fill_visitor(page, family="Returnova-Typed", given="Saule")
    page.get_by_role("button", name="Register", exact=True).click()
    expect(page.locator(".msg-success")).to_contain_text("Returnova-Typed Saule")
    expect(page.locator("body")).not_to_contain_text("Returnova Saule")
    visit = Visit.objects.get()
    assert visit.visitor_id != stored.pk

    page = login(reception)
    row = page.locator("#expected tr", has_text="Returnova-Typed Saule")
    expect(row.locator(".badge.warn")).to_have_text("check ID")
    row.get_by_role("link", name="Returnova-Typed Saule").click()
    page.get_by_role("link", name="Compare with the visitor on file").click()
    expect(page.locator("#stored")).to_contain_text("Returnova Saule")
    expect_photo_loaded(page, "#stored img.photo")
    expect_photo_loaded(page, "#submitted img.photo")
    page.get_by_label("The same person: keep the photo and details on file").check()
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator(".msg-success")).to_have_text("The identity is confirmed.")
    expect(page.locator("h1")).to_contain_text("Returnova Saule")
    visit.refresh_from_db()
    assert visit.visitor_id == stored.pk
    assert AuditEntry.objects.filter(action="visitor.looked_up", actor=reception).count() == 1


# --- e. The language switch -------------------------------------------------------------


def test_language_switch(new_page):
    with translation.override("ru"):
        russian_title = translation.gettext("Sign in")
    page = new_page()
    page.goto("/login/")
    expect(page.locator("header.topbar")).to_have_css("display", "flex")  # the stylesheet loads
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Sign in")

    page.get_by_role("button", name="RU", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("button", name="RU", exact=True)).to_have_class("linklike current")
    if russian_title != "Sign in":  # the Russian catalogue has it
        expect(page.locator("h1")).to_have_text(russian_title)
    assert "/login/" in page.url

    page.get_by_role("button", name="EN", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Sign in")


def test_the_language_switch_on_a_page_that_answered_a_form(login, reception, host, guest_policy):
    """A look-up or a refused form is answered at an address that only takes POSTs: the
    switch goes to that page's own page in the other language, not to an error."""
    iin = make_iin()
    visitor = make_visitor(family_name="Сейткали", given_name="Ерлан", national_id=iin)
    visit = services.register_visit(
        kind=VisitKind.GUEST,
        visitor=visitor,
        host=host,
        planned_start=tomorrow_at(10),
        planned_end=tomorrow_at(12),
        access_policy=guest_policy,
        actor=reception,
    )
    page = login(reception)
    page.goto(f"/visits/{visit.pk}/")
    page.fill("#id_window-planned_start", typed(tomorrow_at(15)))
    page.fill("#id_window-planned_end", typed(tomorrow_at(14)))
    page.get_by_role("button", name="Change the time").click()
    expect(page.locator("#time .errorlist")).to_be_visible()
    assert page.url.endswith("/time/")  # the refused form, at its POST-only address
    page.get_by_role("button", name="RU", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page).to_have_url(f"{page.url.split('/visits/')[0]}/visits/{visit.pk}/")
    expect(page.locator("h1")).to_contain_text("Сейткали Ерлан")

    page.goto("/visits/today/")
    page.locator("input[name=national_id]").fill(iin)
    page.locator("input[name=national_id]").press("Enter")
    expect(page.locator(".msg-info")).to_contain_text("Сейткали Ерлан")
    page.get_by_role("button", name="EN", exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_contain_text("Today")
