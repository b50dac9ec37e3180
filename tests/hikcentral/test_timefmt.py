"""HCP's time format in the site offset; parsing with and without milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hikcentral.timefmt import format_hcp_time, parse_hcp_time, parse_utc_offset

ALMATY = timezone(timedelta(hours=5))


def test_format_in_site_offset():
    value = datetime(2025, 3, 1, 4, 30, 15, 999_999, tzinfo=UTC)
    assert format_hcp_time(value, ALMATY) == "2025-03-01T09:30:15+05:00"


def test_negative_and_half_hour_offsets():
    value = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
    assert format_hcp_time(value, timezone(timedelta(hours=-3, minutes=-30))) == (
        "2025-02-28T20:30:00-03:30"
    )
    assert format_hcp_time(value, UTC) == "2025-03-01T00:00:00+00:00"


def test_naive_refused():
    with pytest.raises(ValueError, match="naive"):
        format_hcp_time(datetime(2025, 1, 1), ALMATY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T09:30:15+05:00", datetime(2025, 3, 1, 4, 30, 15, tzinfo=UTC)),
        ("2025-03-01T09:30:15.123+05:00", datetime(2025, 3, 1, 4, 30, 15, 123_000, tzinfo=UTC)),
        ("2025-03-01T04:30:15Z", datetime(2025, 3, 1, 4, 30, 15, tzinfo=UTC)),
        ("2025-03-01T09:30:15+0500", datetime(2025, 3, 1, 4, 30, 15, tzinfo=UTC)),
        ("2025-03-01 09:30:15+05:00", datetime(2025, 3, 1, 4, 30, 15, tzinfo=UTC)),
    ],
)
def test_parse(text, expected):
    parsed = parse_hcp_time(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None


def test_parse_without_offset_uses_site_offset_or_refuses():
    assert parse_hcp_time("2025-03-01T09:30:15", ALMATY) == datetime(
        2025, 3, 1, 4, 30, 15, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="offset"):
        parse_hcp_time("2025-03-01T09:30:15")


@pytest.mark.parametrize("text", ["", "yesterday", "2025-03-01", "2025-13-01T00:00:00+05:00"])
def test_parse_garbage(text):
    with pytest.raises(ValueError, match=r"HCP time|month"):
        parse_hcp_time(text)


@pytest.mark.parametrize(
    ("text", "hours"), [("+05:00", 5), ("-03:30", -3.5), ("Z", 0), ("+00:00", 0)]
)
def test_parse_utc_offset(text, hours):
    assert parse_utc_offset(text).utcoffset(None) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["5", "+5:00", "+05", "UTC+5", "+15:00", "+05:60", "Asia/Almaty"])
def test_parse_utc_offset_strict(text):
    with pytest.raises(ValueError, match="UTC offset"):
        parse_utc_offset(text)


offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(
    lambda quarters: timezone(timedelta(minutes=15 * quarters))
)


@given(
    value=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=offsets,
    ),
    site=offsets,
)
def test_round_trip(value, site):
    text = format_hcp_time(value, site)
    parsed = parse_hcp_time(text)
    assert parsed == value.replace(microsecond=0)
    assert parsed.utcoffset() == site.utcoffset(None)


@given(
    value=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=offsets,
    ),
    millis=st.integers(min_value=0, max_value=999),
)
def test_parse_milliseconds(value, millis):
    base = format_hcp_time(value, ALMATY)
    with_ms = f"{base[:19]}.{millis:03d}{base[19:]}"
    assert parse_hcp_time(with_ms) == value.replace(microsecond=millis * 1000)
