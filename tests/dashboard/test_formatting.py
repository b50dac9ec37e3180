"""Pure helpers of the dashboard: durations as people read them, and CSV cells that a
spreadsheet must not run as formulas."""

from __future__ import annotations

from datetime import timedelta

import pytest

from propusk.dashboard.exports import _as_text
from propusk.dashboard.templatetags.dashboard import duration


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(seconds=0), "0 s"),
        (timedelta(seconds=7.4), "7 s"),
        (timedelta(seconds=59.6), "1 min 00 s"),
        (timedelta(minutes=3, seconds=5), "3 min 05 s"),
        (timedelta(hours=2, minutes=7, seconds=59), "2 h 07 min"),
        (timedelta(seconds=-12), "0 s"),  # confirmed before it was due
    ],
)
def test_duration(span: timedelta, text: str) -> None:
    assert duration(span) == text


def test_duration_of_nothing_is_empty() -> None:
    assert duration(None) == ""


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("+77011234567", "'+77011234567"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("Нурланова Айгерим", "Нурланова Айгерим"),
        ("", ""),
    ],
)
def test_cells_a_spreadsheet_would_run_are_written_as_text(cell: str, written: str) -> None:
    assert _as_text(cell) == written
