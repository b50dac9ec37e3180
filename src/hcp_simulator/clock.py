"""Simulator time and HCP's time format.

Simulator time is real time plus an offset that the control API can move. It drives validity
checks, event times, the push buffer's expiry and device application delays. The signature
timestamp window deliberately uses real time, or every client would break after a clock move.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# HCP writes and expects `yyyy-MM-ddTHH:mm:ss+hh:mm`; responses of real servers sometimes carry
# milliseconds, so input may too. An explicit numeric offset is required ("Z" is refused).
_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?([+-])(\d{2}):(\d{2})$"
)
# The latest validity real servers accept, compared on the wall time as written.
MAX_WALL_TIME = datetime(2037, 12, 31, 23, 59, 59)  # noqa: DTZ001 - a wall-clock bound


class SimClock:
    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = offset_seconds

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def advance(self, seconds: float) -> None:
        self.offset_seconds += seconds

    def set(self, moment: datetime) -> None:
        self.offset_seconds = (moment - datetime.now(UTC)).total_seconds()


def parse_offset(text: str) -> timezone:
    """Parse `+05:00` / `-03:30` / `+00:00` into a fixed timezone."""
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", text.strip())
    if not match:
        raise ValueError(f"UTC offset must look like +05:00, got {text!r}")
    sign = 1 if match.group(1) == "+" else -1
    hours, minutes = int(match.group(2)), int(match.group(3))
    if hours > 14 or minutes > 59:
        raise ValueError(f"UTC offset out of range: {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_hcp_time(text: str) -> datetime | None:
    """Parse an HCP time; None when the text is not in HCP's format or not a real moment."""
    match = _TIME_RE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    millis = int((match.group(7) or "0").ljust(3, "0"))
    sign = 1 if match.group(8) == "+" else -1
    offset = sign * timedelta(hours=int(match.group(9)), minutes=int(match.group(10)))
    if abs(offset) > timedelta(hours=14):
        return None
    try:
        return datetime(
            year, month, day, hour, minute, second, millis * 1000, tzinfo=timezone(offset)
        )
    except ValueError:
        return None


def exceeds_max_wall_time(moment: datetime) -> bool:
    return moment.replace(tzinfo=None, microsecond=0) > MAX_WALL_TIME


def format_hcp_time(moment: datetime, site_tz: timezone) -> str:
    return moment.astimezone(site_tz).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 time with an offset (control API input); raises ValueError."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time must carry an offset: {text!r}")
    return moment
