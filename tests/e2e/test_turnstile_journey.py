"""A guest passes the simulator's turnstile, as the people around the visit see it in a real
browser: the host's feed tells them (its "Mark as read" looks like something to press), the
visit's history says the turnstile checked the guest in - in words, one row - and once
reception has checked the guest out the visit page no longer calls them "inside"."""

from __future__ import annotations

import os

import pytest

from propusk.visits.models import VisitStatus
from tests.access.conftest import (  # noqa: F401 - fixtures used by name
    ENTRANCE,
    confirm,
    drain,
    hcp,
    hcp_settings,
    simulator,
    site,
)
from tests.dashboard.conftest import run_intake
from tests.passages.conftest import (  # noqa: F401 - fixtures used by name
    _no_face_check,
    enrolled,
    face_of,
    make_visit,
)

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    if os.environ.get("PROPUSK_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("The playwright package is not installed", allow_module_level=True)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.simulator,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ACCENT = "rgb(31, 111, 235)"  # --accent in static/propusk/app.css: the colour of links


def test_the_turnstile_check_in_reads_well_for_the_host_and_reception(
    login,
    host,
    reception,
    site,  # noqa: F811
    hcp,  # noqa: F811
    enrolled,  # noqa: F811
) -> None:
    visit = enrolled()
    assert site.control.passage(ENTRANCE, face_jpeg=face_of(visit)).granted
    assert run_intake(hcp) == 1
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CHECKED_IN

    feed = login(host)
    feed.goto("/notifications/")
    arrival = feed.locator("article.notification.unread")
    expect(arrival).to_contain_text(visit.visitor.full_name)
    mark_read = arrival.get_by_role("button", name="Mark as read")
    assert mark_read.evaluate("(button) => getComputedStyle(button).color") == ACCENT
    arrival.get_by_role("link", name="Open the visit").click()
    feed.wait_for_url(f"**/visits/{visit.pk}/")

    history = feed.locator("#history tbody tr")
    checked_in = history.filter(has_text="Checked in")
    expect(checked_in).to_have_count(1)
    expect(checked_in.locator("td").nth(1)).to_have_text("turnstile")
    expect(checked_in).to_contain_text("Status: Expected → Checked in")
    expect(feed.locator("#history")).not_to_contain_text("passage.")
    expect(feed.locator("#history")).not_to_contain_text("hcp-turnstile")
    expect(feed.locator("#passages h2 .badge")).to_have_text("inside")

    desk = login(reception)
    desk.goto(f"/visits/{visit.pk}/")
    desk.get_by_role("button", name="Check out").click()
    expect(desk.locator("h1 .badge")).to_have_text("Checked out")
    # The last passage was an entry, but the visit is over: not "inside" any more.
    expect(desk.locator("#passages")).to_contain_text("Main entrance")
    expect(desk.locator("#passages h2 .badge")).to_have_count(0)
