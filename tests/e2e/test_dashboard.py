# Russian words in the asserts look like Latin ones to ruff's confusable check: they are meant.

"""The security dashboard and the evacuation list in a real browser, against the real HCP
simulator: a passage at the turnstile appears on the open dashboard without a reload once
the events intake has taken it in (the test runs the intake as a worker would: HCP's door
events polled into the inbox, each processed); the evacuation list prints without the
navigation and its CSV downloads with the people inside."""

from __future__ import annotations

import csv
import io
import os

import pytest
from django.utils import timezone

from propusk.audit.models import AuditEntry
from propusk.passages.models import Incident, IncidentKind, IncidentState
from propusk.visits import services as visit_services
from tests.access.conftest import (  # noqa: F401 - fixtures used by name
    ENTRANCE,
    confirm,
    drain,
    hcp,
    hcp_settings,
    simulator,
    site,
)
from tests.conftest import PASSWORD
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


def test_a_passage_appears_on_the_dashboard_without_a_reload(
    login,
    security,
    site,  # noqa: F811
    hcp,  # noqa: F811
    enrolled,  # noqa: F811
) -> None:
    visit = enrolled()
    name = visit.visitor.full_name
    page = login(security)
    assert page.url.endswith("/dashboard/")  # security lands here
    expect(page.locator("#inside")).not_to_contain_text(name)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    assert site.control.passage(ENTRANCE, face_jpeg=face_of(visit)).granted
    assert run_intake(hcp) == 1
    # Within a few seconds (the page polls every 1.5 s; bench/dashboard.py measures the delay).
    expect(page.locator("#passages")).to_contain_text(name, timeout=5_000)
    expect(page.locator("#inside")).to_contain_text(name)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("#inside-count")).to_have_text("1")
    # The photo through the audited visit photo view, loaded once (not again at each poll).
    photo = page.locator(f'#inside tr[data-key="inside-{visit.pk}"] img')
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=photo.element_handle()
    )
    viewed = AuditEntry.objects.filter(action="visitor.photo_viewed").count()
    assert viewed == 1
    page.wait_for_timeout(3_500)  # two more polls: the unchanged row keeps its photo
    assert AuditEntry.objects.filter(action="visitor.photo_viewed").count() == viewed


def test_the_evacuation_list_prints_and_downloads(
    login,
    security,
    reception,
    make_visit,  # noqa: F811
) -> None:
    visits = [make_visit() for _ in range(2)]
    for visit in visits:
        visit_services.check_in(visit=visit, actor=reception)
    page = login(security)
    page.get_by_role("link", name="Evacuation list").click()
    expect(page.locator("h1")).to_have_text("Evacuation list")
    for visit in visits:
        expect(page.locator("table.evacuation-table")).to_contain_text(visit.visitor.full_name)

    page.emulate_media(media="print")
    expect(page.locator("nav.mainnav")).to_be_hidden()
    expect(page.locator("[data-print]")).to_be_hidden()
    expect(page.locator("table.evacuation-table")).to_be_visible()
    expect(page.locator("p.taken-at")).to_contain_text("2 people inside at")
    colour = page.evaluate("getComputedStyle(document.querySelector('.evacuation-table td')).color")
    assert colour == "rgb(0, 0, 0)"
    page.emulate_media(media="screen")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("evacuation-")
    path = download.path()
    assert path is not None
    with open(path, encoding="utf-8-sig") as stored:
        rows = list(csv.reader(io.StringIO(stored.read())))
    assert sorted(row[1] for row in rows[2:]) == sorted(v.visitor.full_name for v in visits)
    assert timezone.localtime().strftime("%d.%m.%Y") in rows[0][1]


def test_an_unknown_face_is_acknowledged_and_resolved_on_the_dashboard(
    login,
    security,
    site,  # noqa: F811
    hcp,  # noqa: F811
    enrolled,  # noqa: F811
) -> None:
    expected = enrolled()  # expected now: listed beside the unknown face
    page = login(security)
    page.evaluate("window.__sameDocument = true")
    assert not site.control.passage(ENTRANCE, unknown_face=True).granted
    assert run_intake(hcp) == 1
    incident = Incident.objects.get(kind=IncidentKind.FACE_NOT_RECOGNISED)
    row = page.locator(f'#incidents tr[data-key="incident-{incident.pk}"]')
    expect(row).to_contain_text("Face not recognised", timeout=5_000)
    expect(row).to_contain_text(expected.visitor.full_name)

    row.get_by_role("button", name="Acknowledge").click()
    expect(row.locator(".badge")).to_have_text("Acknowledged")
    expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)
    note = row.get_by_placeholder("Note (optional)")
    note.fill("Гостя встретили на входе")
    # Another unknown face meanwhile: it appears, and the note being typed stays.
    assert not site.control.passage(ENTRANCE, unknown_face=True).granted
    assert run_intake(hcp) == 1
    expect(page.locator("#incidents tr[data-key]")).to_have_count(2, timeout=5_000)
    expect(note).to_have_value("Гостя встретили на входе")
    expect(note).to_be_focused()
    row.get_by_role("button", name="Resolve").click()
    expect(row).to_have_count(0)
    expect(page.locator("#incidents tr[data-key]")).to_have_count(1)
    assert page.evaluate("window.__sameDocument") is True  # never left the dashboard
    incident.refresh_from_db()
    assert (incident.state, incident.note) == (IncidentState.RESOLVED, "Гостя встретили на входе")
    # Resolved, it is gone from the board but one click away; the kind says it all (no
    # "Face not recognised: face not recognised").
    page.get_by_role("link", name="All incidents").click()
    resolved = page.locator("tbody tr").filter(has_text="Resolved")
    expect(resolved).to_have_count(1)
    expect(resolved.locator("td").nth(1)).to_have_text("Face not recognised")


def test_the_incident_note_shows_its_whole_hint_in_russian(
    new_page,
    security,
    site,  # noqa: F811
    hcp,  # noqa: F811
) -> None:
    assert not site.control.passage(ENTRANCE, unknown_face=True).granted
    assert run_intake(hcp) == 1
    page = new_page(locale="ru-RU")
    page.goto("/login/")
    page.fill("#id_username", security.username)
    page.fill("#id_password", PASSWORD)
    page.click("form:has(#id_password) button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/dashboard/"))
    note = page.locator("#incidents input[name=note]")
    expect(note).to_have_attribute("placeholder", "Примечание (необязательно)")
    fits = """(input) => {
        const style = getComputedStyle(input);
        const context = document.createElement("canvas").getContext("2d");
        context.font = style.font;
        const room = input.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        return context.measureText(input.placeholder).width <= room;
    }"""
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        assert note.evaluate(fits), f"the note's hint is cut at {width} px"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [360, 768, 1366])
def test_the_dashboard_fits_the_screen(
    new_page,
    security,
    reception,
    site,  # noqa: F811
    hcp,  # noqa: F811
    enrolled,  # noqa: F811
    width: int,
) -> None:
    visit = enrolled()
    visit_services.check_in(visit=visit, actor=reception)
    assert not site.control.passage(ENTRANCE, unknown_face=True).granted
    assert run_intake(hcp) == 1
    page = new_page()
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/login/")
    page.fill("#id_username", security.username)
    page.fill("#id_password", PASSWORD)
    page.click("form:has(#id_password) button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/dashboard/"))
    expect(page.locator("#inside")).to_contain_text(visit.visitor.full_name)
    expect(page.locator("#incidents")).to_contain_text("Face not recognised")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.goto("/dashboard/evacuation/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
