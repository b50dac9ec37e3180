"""Database helpers that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

M = TypeVar("M", bound=Model)


def in_pages(queryset: QuerySet[M], *, order: tuple[str, ...], size: int = 500) -> Iterator[M]:
    """Every row of ``queryset`` in ascending ``order`` (unique, e.g. ending in ``"pk"``), read
    one page at a time, with no cursor left open while the caller writes.

    A sweep that writes as it reads must not hold a cursor (``QuerySet.iterator``): on SQLite
    an open cursor keeps its snapshot, and the first write after another process's commit
    then fails at once with "database is locked", whatever the busy timeout. Each page
    starts after the last row of the one before (keyset paging), so rows the caller changed
    meanwhile are neither skipped nor read twice.
    """
    ordered = queryset.order_by(*order)
    after: Q | None = None
    while True:
        page = list((ordered if after is None else ordered.filter(after))[:size])
        if not page:
            return
        yield from page
        after = _after(page[-1], order)


def _after(row: Model, order: tuple[str, ...]) -> Q:
    """Rows that come after ``row`` in ``order``: (a > x) or (a = x and b > y) or ..."""
    values: list[tuple[str, Any]] = [(name, getattr(row, name)) for name in order]
    after = Q()
    for index, (name, value) in enumerate(values):
        after |= Q(**dict(values[:index]), **{f"{name}__gt": value})
    return after
