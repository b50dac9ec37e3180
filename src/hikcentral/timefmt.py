"""HCP's time format: ``yyyy-MM-ddTHH:mm:ss+hh:mm``, always with an explicit offset.

Devices compare validity windows in their own clocks, so times are sent in the site's UTC
offset. Naive datetimes are refused: a naive time is a bug waiting for a DST change.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

_OFFSET_RE = re.compile(r"^(?P<sign>[+-])(?P<hours>\d{2}):(?P<minutes>\d{2})$")
_TIME_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?$"
)


def parse_utc_offset(text: str) -> timezone:
    """``"+05:00"`` -> ``timezone(timedelta(hours=5))``; ``"Z"`` and ``"+00:00"`` -> UTC."""
    value = text.strip()
    if value in ("Z", "UTC"):
        return UTC
    match = _OFFSET_RE.match(value)
    if not match:
        raise ValueError(f"UTC offset must look like +05:00 or -03:30, got {text!r}")
    hours, minutes = int(match["hours"]), int(match["minutes"])
    if hours > 14 or minutes >= 60:
        raise ValueError(f"UTC offset out of range: {text!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if match["sign"] == "-" else delta)


def _format_offset(offset: timedelta) -> str:
    total_minutes = int(offset.total_seconds()) // 60
    sign = "-" if total_minutes < 0 else "+"
    hours, minutes = divmod(abs(total_minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def format_hcp_time(value: datetime, site_tz: tzinfo) -> str:
    """An aware datetime as HCP wants it, in the site's offset, to the second (truncated)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime refused: pass an aware datetime")
    local = value.astimezone(site_tz)
    offset = local.utcoffset() or timedelta(0)
    # isoformat, not strftime: strftime does not zero-pad years below 1000 on every platform.
    return local.replace(microsecond=0, tzinfo=None).isoformat() + _format_offset(offset)


def parse_hcp_time(text: str, default_tz: tzinfo | None = None) -> datetime:
    """Parse an HCP time, with or without milliseconds, with ``Z``, ``+hh:mm`` or ``+hhmm``.

    A time without an offset takes ``default_tz`` (the site's offset) or is refused.
    """
    match = _TIME_RE.match(text.strip())
    if not match:
        raise ValueError(f"not an HCP time: {text!r}")
    naive = datetime.fromisoformat(f"{match['date']}T{match['time']}")
    fraction = match["fraction"]
    if fraction:
        naive = naive.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    offset_text = match["offset"]
    if offset_text is None:
        if default_tz is None:
            raise ValueError(f"HCP time without an offset: {text!r}")
        return naive.replace(tzinfo=default_tz)
    if offset_text == "Z":
        return naive.replace(tzinfo=UTC)
    if ":" not in offset_text:
        offset_text = f"{offset_text[:3]}:{offset_text[3:]}"
    return naive.replace(tzinfo=parse_utc_offset(offset_text))
