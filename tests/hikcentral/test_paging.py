"""Paging termination with scripted pages (shapes the simulator, being a correct HCP, never
sends): the loop ends, and it never returns a silently truncated list."""

from __future__ import annotations

from typing import Any

import pytest

from hikcentral.client import _paginate
from hikcentral.errors import HCPProtocolError

PATH = "/api/x"


class Pages:
    """Answers read_page from a script, and stops a runaway loop instead of hanging."""

    def __init__(self, answer: Any, limit: int = 10) -> None:
        self.answer = answer
        self.limit = limit
        self.calls: list[tuple[int, int]] = []

    def __call__(self, page_no: int, page_size: int) -> Any:
        self.calls.append((page_no, page_size))
        if len(self.calls) > self.limit:
            raise AssertionError(f"runaway paging: {self.calls[:3]}...")
        return self.answer(page_no, page_size)


def rows(first: int, count: int) -> list[dict[str, Any]]:
    return [{"id": str(n)} for n in range(first, first + count)]


def test_a_server_ignoring_page_no_without_a_total_is_an_error_not_a_loop():
    pages = Pages(lambda page_no, size: {"list": rows(0, size)})
    with pytest.raises(HCPProtocolError, match="repeats"):
        list(_paginate(pages, path=PATH, page_size=2))
    assert len(pages.calls) == 2


def test_a_server_ignoring_page_no_with_a_total_is_an_error_not_a_truncated_list():
    pages = Pages(lambda page_no, size: {"total": 6, "list": rows(0, size)})
    with pytest.raises(HCPProtocolError, match="repeats"):
        list(_paginate(pages, path=PATH, page_size=2))


def test_an_empty_page_while_the_total_says_more_is_an_error():
    def answer(page_no: int, size: int) -> Any:
        return {"total": 5, "list": rows(0, size)} if page_no == 1 else {"total": 5}

    with pytest.raises(HCPProtocolError, match="total is 5"):
        list(_paginate(Pages(answer), path=PATH, page_size=2))


@pytest.mark.parametrize("empty", ["", "null", None])
def test_a_page_without_data_while_an_earlier_total_says_more_is_an_error(empty):
    def answer(page_no: int, size: int) -> Any:
        return {"total": 5, "list": rows(0, size)} if page_no == 1 else empty

    with pytest.raises(HCPProtocolError, match="total is 5"):
        list(_paginate(Pages(answer), path=PATH, page_size=2))


def test_an_empty_page_ends_a_listing_whose_total_is_reached_or_absent():
    def with_total(page_no: int, size: int) -> Any:
        return {"total": 2, "list": rows(0, 2)} if page_no == 1 else {"total": 2}

    assert len(list(_paginate(Pages(with_total), path=PATH, page_size=2))) == 2

    def without_total(page_no: int, size: int) -> Any:
        return {"list": rows(0, 2)} if page_no == 1 else {"pageNo": 0, "pageSize": 0}

    pages = Pages(without_total)
    assert len(list(_paginate(pages, path=PATH, page_size=2))) == 2
    assert pages.calls == [(1, 2), (2, 2)]


def test_a_short_page_ends_a_listing_without_a_total():
    def answer(page_no: int, size: int) -> Any:
        return {"list": rows((page_no - 1) * size, size if page_no < 3 else 1)}

    pages = Pages(answer)
    assert [item["id"] for item in _paginate(pages, path=PATH, page_size=2)] == list("01234")
    assert len(pages.calls) == 3
