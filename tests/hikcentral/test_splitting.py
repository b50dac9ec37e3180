"""Pure helpers of the client: event windows and batches."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hikcentral.client import EVENT_WINDOW, _chunks, _windows


def test_windows_cover_the_range_in_whole_seconds():
    start = datetime(2025, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    end = start + timedelta(days=40)
    windows = _windows(start, end, EVENT_WINDOW)
    assert len(windows) == 2
    assert windows[0][0] == datetime(2025, 1, 1, tzinfo=UTC)  # rounded down
    assert windows[-1][1] == datetime(2025, 2, 10, 0, 0, 1, tzinfo=UTC)  # rounded up
    for (_, first_end), (second_start, _) in itertools.pairwise(windows):
        assert first_end == second_start
    assert all(
        window_end - window_start <= timedelta(days=31) for window_start, window_end in windows
    )


def test_short_range_is_one_window():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert _windows(start, start + timedelta(hours=1), EVENT_WINDOW) == [
        (start, start + timedelta(hours=1))
    ]


def test_chunks():
    assert list(_chunks(list(range(25)), 10)) == [
        list(range(10)),
        list(range(10, 20)),
        list(range(20, 25)),
    ]
    assert list(_chunks([], 10)) == []
