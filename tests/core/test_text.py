# Russian and Kazakh names next to invisible characters look confusable to ruff: they are meant.
# ruff: noqa: RUF001

"""Names and other text shown to people: one rule (propusk.core.text) on every page that takes
them. The visitor's name pages are tested in tests/visitors/test_forms.py."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from propusk.core.text import clean_name, clean_visible_text
from propusk.invitations.models import Invitation
from propusk.visitors.names import with_clean_names
from tests.factories import visitor_data

BIDI_AND_INVISIBLE = [
    *map(chr, range(0x200B, 0x2010)),  # zero-width space, joiners, LRM, RLM
    *map(chr, range(0x202A, 0x202F)),  # embeddings and overrides
    *map(chr, range(0x2060, 0x2065)),  # word joiner, invisible operators
    *map(chr, range(0x2066, 0x206A)),  # isolates
    "\ufeff",  # byte order mark
    "\u00ad",  # soft hyphen
    "\u061c",  # Arabic letter mark
    "\u3164",  # Hangul filler (filed as a letter)
    "\ufe0f",  # variation selector
    "\x00",
    "\x1b",
    "\x7f",
]


@pytest.mark.parametrize("char", BIDI_AND_INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("check", [clean_name, clean_visible_text])
def test_invisible_and_control_characters_are_refused_anywhere(check, char):
    for text in (char, f"Нұрлан{char}", f"{char}Нұрлан", f"Нұр{char}лан"):
        with pytest.raises(ValidationError) as refused:
            check(text)
        assert refused.value.code == "invisible"


@pytest.mark.parametrize(
    "name",
    ["Әлихан", "Нұрлан", "Өмірзақ", "Ғани", "Үміт", "Іңкәр", "Қасым", "Һ", "О'Нил", "Жан-Поль"],
)
def test_russian_and_kazakh_letters_hyphens_and_apostrophes_pass(name):
    assert clean_name(name) == name


def test_whitespace_is_one_space_and_letters_are_composed():
    assert clean_name("  Асем \u00a0\t Нұрланқызы\u2003") == "Асем Нұрланқызы"
    assert clean_name("Каи\u0306ырбаева") == "Кайырбаева"
    assert clean_name("") == ""
    assert clean_name("   ") == ""


@pytest.mark.parametrize("text", ["---", "12345", "' '", "…", "🙂"])
def test_a_name_needs_a_letter(text):
    with pytest.raises(ValidationError) as refused:
        clean_name(text)
    assert refused.value.code in {"no_letter", "invisible"}


def test_other_text_needs_a_letter_or_digit():
    assert clean_visible_text("  Школа №\u00a012 ") == "Школа № 12"
    assert clean_visible_text("101") == "101"
    with pytest.raises(ValidationError):
        clean_visible_text("—")


@given(st.text(max_size=40))
def test_whatever_passes_is_visible_composed_and_single_spaced(text):
    try:
        cleaned = clean_name(text)
    except ValidationError:
        return
    assert cleaned == unicodedata.normalize("NFC", cleaned)
    assert cleaned == " ".join(cleaned.split())
    assert not [c for c in cleaned if unicodedata.category(c).startswith("C")]
    assert clean_name(cleaned) == cleaned


# --- The invitation page: the group's name and the purpose --------------------------------


@pytest.fixture
def create(client, host, guest_policy):
    client.force_login(host)
    start = timezone.localtime() + timedelta(days=1)

    def post(**fields: str) -> Any:
        data = {
            "kind": "group",
            "purpose": "День открытых дверей",
            "access_policy": str(guest_policy.pk),
            "department": "",
            "planned_start": start.strftime("%Y-%m-%dT10:00"),
            "planned_end": start.strftime("%Y-%m-%dT12:00"),
            "group_name": "Школа № 12, 11 «А»",
            "max_uses": "25",
            "expires_at": "",
            **fields,
        }
        return client.post(reverse("invitations:create"), data)

    return post


@pytest.mark.parametrize("field", ["group_name", "purpose"])
@pytest.mark.parametrize("text", ["\u202eА11 алокШ", "Школа\u200b № 12", "\u2066\u2069", "—"])
def test_invitation_refuses_invisible_or_empty_text(create, field, text):
    response = create(**{field: text})

    assert response.status_code == 400
    body = response.content.decode()
    assert "invisible or control characters" in body or "at least one letter or digit" in body
    assert not Invitation.objects.exists()


def test_invitation_keeps_ordinary_text(create):
    response = create(group_name="  Школа № 12,\u00a011 «А» ")

    assert response.status_code == 302, response.content.decode()[:3000]
    invitation = Invitation.objects.get()
    assert invitation.group is not None
    assert invitation.group.name == "Школа № 12, 11 «А»"


# --- The services' check of a visitor's names ----------------------------------------------


def test_visitor_data_names_are_normalised_for_the_services():
    data = visitor_data(
        family_name="  Каи\u0306ырбаева ", given_name="Нұрлан\u00a0", middle_name=""
    )

    cleaned = with_clean_names(data)

    assert (cleaned.family_name, cleaned.given_name, cleaned.middle_name) == (
        "Кайырбаева",
        "Нұрлан",
        "",
    )
    assert cleaned.photo_jpeg == data.photo_jpeg


def test_visitor_data_with_a_bad_name_is_refused_field_by_field():
    data = visitor_data(family_name="\u202eвонави", given_name="   ", middle_name="\u200b")

    with pytest.raises(ValidationError) as refused:
        with_clean_names(data)

    errors = refused.value.error_dict
    assert sorted(errors) == ["family_name", "given_name", "middle_name"]
    assert errors["family_name"][0].code == "invisible"
    assert errors["given_name"][0].code == "no_letter"  # a required name, empty
