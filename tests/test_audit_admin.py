"""The audit log in the admin names each action in words - the visit page's wording, Russian
and English - while its filter still filters by the action's key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from propusk.access.services import AUDIT_ACTIONS
from propusk.audit.labels import action_labels
from propusk.audit.services import record
from propusk.passages.models import IncidentState
from propusk.visitors.models import Visitor
from tests.factories import make_iin

pytestmark = pytest.mark.django_db

URL = reverse("admin:audit_auditentry_changelist")
SOURCE = Path(__file__).resolve().parent.parent / "src" / "propusk"


@pytest.fixture
def officer(admin_user: User) -> User:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    return admin_user


@pytest.fixture
def entries(officer: User) -> None:
    visitor = Visitor.objects.create(
        family_name="Жумабекова",
        given_name="Айгуль",
        phone="+77011234567",
        national_id_hash=make_iin(),
    )
    record(actor=officer, action="access.revoked_now", target=visitor, changes={"reason": "x"})
    record(actor=officer, action="visit.checked_in", target=visitor)
    record(actor=officer, action="visitor.photo_viewed", target=visitor)
    record(actor=officer, action="something.new_unlabelled", target=visitor)


def cells(html: str) -> list[str]:
    return re.findall(r'<td class="field-action_display">([^<]*)</td>', html)


def filter_links(html: str) -> dict[str, str]:
    """The action filter's links: display text -> query string."""
    links = re.findall(r'<a href="(\?(?:[^"]*&amp;)?action=[^"]*)"[^>]*>([^<]*)</a>', html)
    return {text.strip(): href for href, text in links}


@pytest.mark.parametrize(
    ("language", "revoked", "checked_in", "viewed"),
    [
        ("en", "Access revoked by hand", "Checked in", "Face photo viewed"),
        ("ru", "Доступ отозван вручную", "Отмечен приход", "Просмотр фото лица"),
    ],
)
def test_the_list_names_actions_in_words_as_the_visit_history_does(
    officer, entries, language, revoked, checked_in, viewed
):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(officer)
    html = client.get(URL).content.decode()
    assert sorted(cells(html)) == sorted([revoked, checked_in, viewed, "something.new_unlabelled"])
    links = filter_links(html)
    assert {revoked, checked_in, viewed, "something.new_unlabelled"} <= set(links)

    # Filtering still works, by the key.
    filtered = client.get(URL + links[revoked]).content.decode()
    assert cells(filtered) == [revoked]
    assert "action=access.revoked_now" in links[revoked]


def test_the_entry_page_shows_the_label_and_the_key(officer, entries):
    from propusk.audit.models import AuditEntry

    entry = AuditEntry.objects.get(action="access.revoked_now")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(officer)
    html = client.get(reverse("admin:audit_auditentry_change", args=[entry.pk])).content.decode()
    assert "Access revoked by hand" in html
    assert "access.revoked_now" in html


def test_every_action_the_code_records_has_a_label():
    """A new audit action without words would show its key in the log: name it in
    ``audit.labels`` (or in the history that shows it)."""
    recorded: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        recorded |= set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', text))
        recorded |= set(re.findall(r'"(hcp\.[a-z_]+)"', text))
    recorded |= set(AUDIT_ACTIONS.values())
    recorded |= {f"incident.{state}" for state in IncidentState.values if state != "open"}
    assert "access.revoked_now" in recorded
    assert "visit.checked_in" in recorded
    assert recorded - set(action_labels()) == set()
