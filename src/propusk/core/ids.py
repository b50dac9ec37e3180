"""Row ids typed into a query string or a form field: read strictly, so that no value can
reach the database as something it cannot hold."""

from __future__ import annotations

# Below 2**63, every database's bigint: a longer number overflows the query (a 500).
_MAX_DIGITS = 18


def parse_id(value: str) -> int | None:
    """A row id written in ASCII digits (at most 18), or None for anything else. Not
    ``str.isdigit`` alone: "²" is a digit to it, and ``int("²")`` raises."""
    if 0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit():
        return int(value)
    return None
