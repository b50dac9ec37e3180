# Russian words in the asserts look like Latin ones to ruff's confusable check: they are meant.
# ruff: noqa: RUF001

"""The evacuation list: everyone inside, by entry door, printable, as CSV (Excel-ready UTF-8,
Russian headers in Russian) and PDF (Cyrillic text extracted back out of the file); every
export audited without names."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from propusk.audit.models import AuditEntry
from propusk.visits import services as visit_services
from propusk.visits.models import Visit
from tests.access.conftest import ENTRANCE
from tests.conftest import PASSWORD
from tests.passages.conftest import EXIT_DOOR, Turnstile

pytestmark = [pytest.mark.django_db]


def signed_in(user: User, language: str = "en") -> Client:
    client = Client(headers={"accept-language": language})
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def inside(make_visit: Callable[..., Visit], reception: User) -> list[Visit]:
    """Three visitors checked in at the desk and one who is only expected."""
    visits = [make_visit() for _ in range(4)]
    for visit in visits[:3]:
        visit_services.check_in(visit=visit, actor=reception)
    return visits


def test_the_page_lists_everyone_inside_with_a_timestamp_and_print_styles(
    inside: list[Visit], security: User
) -> None:
    html = signed_in(security).get(reverse("dashboard:evacuation")).content.decode()
    for visit in inside[:3]:
        assert visit.visitor.full_name in html
        assert visit.visitor.phone in html
    assert inside[3].visitor.full_name not in html
    assert "3 people inside at" in html
    assert timezone.localtime().strftime("%d.%m.%Y") in html
    assert "Checked in at the desk" in html
    assert "dashboard/dashboard.css" in html
    assert reverse("dashboard:evacuation_csv") in html
    assert reverse("dashboard:evacuation_pdf") in html


def test_the_csv_opens_in_excel_with_russian_headers(inside: list[Visit], security: User) -> None:
    response = signed_in(security, "ru").get(reverse("dashboard:evacuation_csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="evacuation-')
    body = response.content
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "Список для эвакуации"
    assert rows[0][2] == "3"
    assert rows[1] == ["№", "ФИО", "Принимающий сотрудник", "Телефон", "На территории с", "Вход"]
    people = rows[2:]
    assert sorted(row[1] for row in people) == sorted(v.visitor.full_name for v in inside[:3])
    # The phone starts with "+": written as text, not a formula.
    assert {row[3] for row in people} == {"'+77011234567"}
    assert {row[5] for row in people} == {"Отмечен в бюро пропусков"}
    assert [row[0] for row in people] == ["1", "2", "3"]


def test_the_csv_in_english(inside: list[Visit], admin_user: User) -> None:
    body = signed_in(admin_user).get(reverse("dashboard:evacuation_csv")).content
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[1] == ["No.", "Name", "Host", "Phone", "Inside since", "Entry door"]


def test_the_pdf_carries_the_cyrillic_names(inside: list[Visit], security: User) -> None:
    response = signed_in(security, "ru").get(reverse("dashboard:evacuation_pdf"))
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    normal = re.sub(r"\s+", " ", text)
    assert "Список для эвакуации" in normal
    for visit in inside[:3]:
        assert visit.visitor.full_name in normal
    assert "Отмечен в бюро пропусков (3)" in normal
    assert "Страница 1" in normal


def test_a_long_list_runs_over_pages_with_the_header_repeated(
    make_visit: Callable[..., Visit], reception: User, security: User
) -> None:
    for _ in range(45):
        visit_services.check_in(visit=make_visit(), actor=reception)
    reader = PdfReader(
        io.BytesIO(signed_in(security).get(reverse("dashboard:evacuation_pdf")).content)
    )
    assert len(reader.pages) >= 2
    for page in reader.pages:
        assert "Inside since" in page.extract_text()
    assert "45" in reader.pages[-1].extract_text()


def test_exports_are_audited_without_names(inside: list[Visit], security: User) -> None:
    desk = signed_in(security)
    desk.get(reverse("dashboard:evacuation_csv"))
    desk.get(reverse("dashboard:evacuation_pdf"))
    entries = list(AuditEntry.objects.filter(action="dashboard.evacuation_exported").order_by("pk"))
    assert [(e.actor_id, e.changes) for e in entries] == [
        (security.pk, {"format": "csv", "people": 3}),
        (security.pk, {"format": "pdf", "people": 3}),
    ]
    for visit in inside:
        assert visit.visitor.family_name not in str([e.changes for e in entries])
    # Looking at the page is not an export.
    desk.get(reverse("dashboard:evacuation"))
    assert AuditEntry.objects.filter(action="dashboard.evacuation_exported").count() == 2


def test_nobody_inside(security: User) -> None:
    html = signed_in(security).get(reverse("dashboard:evacuation")).content.decode()
    assert "Nobody is inside." in html
    reader = PdfReader(
        io.BytesIO(signed_in(security).get(reverse("dashboard:evacuation_pdf")).content)
    )
    assert "Nobody is inside." in reader.pages[0].extract_text()


@pytest.mark.simulator
def test_grouped_by_the_door_they_came_in_through(
    enrolled: Callable[..., Visit], turnstile: Turnstile, security: User
) -> None:
    through_entrance = enrolled()
    through_exit_door = enrolled()
    gone = enrolled()
    earlier = timezone.now() - timedelta(minutes=3)
    turnstile.pass_(ENTRANCE, visit=through_entrance, at=earlier)
    turnstile.pass_(EXIT_DOOR, visit=through_exit_door, at=earlier)
    turnstile.pass_(ENTRANCE, visit=gone, at=earlier)
    turnstile.pass_(EXIT_DOOR, visit=gone, direction="out", at=earlier + timedelta(minutes=1))

    body = signed_in(security).get(reverse("dashboard:evacuation_csv")).content
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[2:]
    doors = {row[1]: row[5] for row in rows}
    entrance = through_entrance.passages.get().door_name
    other = through_exit_door.passages.get().door_name
    assert entrance
    assert other
    assert entrance != other
    assert doors == {
        through_entrance.visitor.full_name: entrance,
        through_exit_door.visitor.full_name: other,
    }
    html = signed_in(security).get(reverse("dashboard:evacuation")).content.decode()
    assert html.index(entrance) < html.index(through_entrance.visitor.full_name)
    assert gone.visitor.full_name not in html
