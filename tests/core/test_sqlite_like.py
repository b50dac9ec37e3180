"""Case-blind search finds Russian and Kazakh names on every database (SQLite's own LIKE folds
only ASCII letters: propusk.core.sqlite replaces it)."""

from __future__ import annotations

import pytest

from propusk.core.sqlite import unicode_like
from propusk.visitors.models import Visitor
from tests.factories import make_visitor


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("%айгерим%", "Нурланова Айгерим", 1),
        ("%ӘЛИЯ%", "әлия", 1),
        ("сейт%", "Сейткали", 1),
        ("сейт%", "Асейткали", 0),
        ("_ерлан", "Ерлан", 0),
        ("_рлан", "Ерлан", 1),
        ("100\\%", "100%", 1),
        ("100\\%", "1000", 0),
        ("a\\_b", "a_b", 1),
        ("a\\_b", "axb", 0),
    ],
)
def test_like_folds_every_letter_and_honours_wildcards_and_escapes(pattern, value, expected):
    assert unicode_like(pattern, value, "\\") == expected


def test_null_is_null():
    assert unicode_like("%", None) is None
    assert unicode_like(None, "x") is None


@pytest.mark.django_db
def test_icontains_finds_cyrillic_names_whatever_their_case():
    make_visitor(family_name="Жаксылыкова", given_name="Мадина")
    make_visitor(family_name="Seitkali", given_name="Erlan")

    assert Visitor.objects.filter(family_name__icontains="жаксы").count() == 1
    assert Visitor.objects.filter(given_name__istartswith="МАДИ").count() == 1
    assert Visitor.objects.filter(family_name__iexact="жаксылыкова").count() == 1
    assert Visitor.objects.filter(family_name__icontains="SEIT").count() == 1
    assert not Visitor.objects.filter(family_name__icontains="мадина").exists()
