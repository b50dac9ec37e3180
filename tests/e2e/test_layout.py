"""Pages that fit: the reception page's visits measured from element boxes in real Chromium.

A desk tablet (768 and 820 px wide) once got a "today" table whose visitor column shrank to
nothing, names printed over the times and buttons cut off at the right edge. Here every cell,
and everything inside it, is measured with getBoundingClientRect: no two cells of a visit
overlap, nothing sticks out of its cell, no text or button is clipped, nothing scrolls sideways.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from propusk.visits import services
from propusk.visits.models import VisitKind
from tests.factories import make_visitor

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

# What is wrong with the visits' rows on the page, as sentences (empty: all fits).
MEASURE = """
() => {
  const problems = [];
  const near = (a, b) => a <= b + 0.5;
  const inside = (inner, outer) => near(outer.left, inner.left) && near(inner.right, outer.right)
    && near(outer.top, inner.top) && near(inner.bottom, outer.bottom);
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5
    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
  if (document.documentElement.scrollWidth > window.innerWidth + 0.5) {
    problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} px)`);
  }
  document.querySelectorAll(".table-wrap").forEach((wrap) => {
    if (wrap.scrollWidth > wrap.clientWidth + 0.5) {
      problems.push(`a table scrolls sideways (${wrap.scrollWidth} > ${wrap.clientWidth} px)`);
    }
  });
  const page = document.querySelector("main").getBoundingClientRect();
  document.querySelectorAll("table.today tbody tr").forEach((row, r) => {
    const cells = Array.from(row.querySelectorAll(":scope > td"));
    const boxes = cells.map((cell) => cell.getBoundingClientRect());
    cells.forEach((cell, i) => {
      const box = boxes[i];
      if (box.width < 40) { problems.push(`row ${r} cell ${i} is ${box.width} px wide`); }
      if (!inside(box, page)) { problems.push(`row ${r} cell ${i} is outside the page`); }
      if (cell.scrollWidth > cell.clientWidth + 0.5) {
        problems.push(`row ${r} cell ${i}: its content is wider than the cell`);
      }
      for (let j = i + 1; j < cells.length; j++) {
        if (overlap(box, boxes[j])) { problems.push(`row ${r}: cells ${i} and ${j} overlap`); }
      }
      cell.querySelectorAll("a, span, button, strong").forEach((el) => {
        const inner = el.getBoundingClientRect();
        if (inner.width === 0 && inner.height === 0) { return; }
        if (!inside(inner, box)) {
          problems.push(`row ${r} cell ${i}: "${el.textContent.trim()}" sticks out of its cell`);
        }
        if (el.tagName === "BUTTON" && el.scrollWidth > el.clientWidth + 0.5) {
          problems.push(`row ${r} cell ${i}: the button "${el.textContent.trim()}" is clipped`);
        }
      });
    });
  });
  return problems;
}
"""


@pytest.fixture
def busy_day(reception, host, guest_policy):
    """Visits of every kind of row: long names and purposes, one inside, with buttons."""
    people = [
        ("Нурланова-Сейткалиева", "Айгерим Бауыржановна", "Защита магистерской диссертации"),
        ("Сейткали", "Ерлан", "Job interview with the Department of Applied Mathematics"),
        ("Abdulkhakimov", "Alexander-Maximilian", ""),
    ]
    visits = []
    for family, given, purpose in people:
        visitor = make_visitor(family_name=family, given_name=given)
        visits.append(
            services.register_walk_in(
                kind=VisitKind.GUEST,
                visitor=visitor,
                host=host,
                planned_end=timezone.now() + timedelta(hours=2),
                access_policy=guest_policy,
                actor=reception,
                purpose=purpose,
            )
        )
    services.check_in(visit=visits[1], actor=reception)
    return visits


@pytest.mark.parametrize("width", [360, 768, 820, 1024, 1366, 1920])
def test_today_has_no_overlapping_or_clipped_cells(login, reception, busy_day, width):
    page = login(reception)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/visits/today/")
    expect(page.locator("#expected tbody tr")).to_have_count(2)
    expect(page.locator("#inside tbody tr")).to_have_count(1)
    assert page.evaluate(MEASURE) == []
    # The buttons are there and usable, not cut off.
    expect(page.locator("#expected").get_by_role("button", name="Check in").first).to_be_visible()
    check_out = page.locator("#inside").get_by_role("button", name="Check out")
    check_out.scroll_into_view_if_needed()
    expect(check_out).to_be_in_viewport(ratio=1)


def test_the_current_page_is_marked_in_the_navigation(login, reception):
    page = login(reception)
    page.goto("/visits/today/")
    expect(page.locator(".mainnav a[aria-current=page]")).to_have_text("Today")
    page.goto("/visits/")
    expect(page.locator(".mainnav a[aria-current=page]")).to_have_text("Visits")
    page.goto("/visits/register/")
    expect(page.locator(".mainnav a[aria-current=page]")).to_have_text("Register a visit")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert icon is not None
    assert page.request.get(icon).ok


def test_the_public_page_names_the_organisation(new_page, settings, host, guest_policy):
    from propusk.invitations.models import InvitationKind
    from propusk.invitations.services import create_invitation

    settings.ORG_NAME = "Satbayev University"
    settings.ORG_ADDRESS = "Almaty, Satpayev St 22"
    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Thesis defence",
        department=None,
    )
    page = new_page(phone=True)
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"/invitations/i/{invitation.token}/")
    expect(page.locator(".org")).to_contain_text("Satbayev University")
    expect(page.locator(".org")).to_contain_text("Almaty, Satpayev St 22")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360


@pytest.mark.parametrize("width", [360, 768])
def test_every_staff_page_fits_a_narrow_screen(login, reception, busy_day, width):
    """Nothing on the staff pages reaches past the right edge of a phone or a tablet."""
    visit = busy_day[0]
    page = login(reception)
    page.set_viewport_size({"width": width, "height": 800})
    for path in (
        "/visits/today/",
        "/visits/",
        "/visits/register/",
        f"/visits/{visit.pk}/",
        "/invitations/",
        "/invitations/new/",
    ):
        page.goto(path)
        expect(page.locator("h1").first).to_be_visible()
        overflow = page.evaluate(
            """() => Array.from(document.querySelectorAll("main *"))
                .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
                .filter((el) => !el.closest(".table-wrap"))
                .map((el) => el.tagName + "." + el.className)"""
        )
        assert overflow == [], path
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        # No template syntax leaks onto the page (a {# comment #} spanning lines shows).
        text = page.locator("body").inner_text()
        assert "{#" not in text, path
        assert "{%" not in text, path
