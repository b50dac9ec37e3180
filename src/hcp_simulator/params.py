"""Request parameter validation the way HCP does it: code 2, the field named in brackets.

HCP is a Java service; the simulator is stricter than Jackson's coercions on purpose: a number
must be a JSON number (not "10", not 10.0, not true), a string must be a JSON string.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from hcp_simulator.clock import exceeds_max_wall_time, parse_hcp_time
from hcp_simulator.envelope import HcpError

MAX_PAGE_SIZE = 500
MAX_PAGE_NO = 2_147_483_647


class Params:
    """Typed accessors over a JSON request body; every failure is `HcpError` code 2."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def has(self, name: str) -> bool:
        return self.body.get(name) is not None

    def string(
        self,
        name: str,
        *,
        required: bool = False,
        max_len: int | None = None,
        pattern: re.Pattern[str] | None = None,
        allow_empty: bool = True,
    ) -> str | None:
        value = self.body.get(name)
        if value is None:
            if required:
                raise HcpError.bad_parameter(name)
            return None
        if not isinstance(value, str):
            raise HcpError.bad_parameter(name)
        if required and not allow_empty and not value.strip():
            raise HcpError.bad_parameter(name)
        if max_len is not None and len(value) > max_len:
            raise HcpError.bad_parameter(name)
        if pattern is not None and value and not pattern.fullmatch(value):
            raise HcpError.bad_parameter(name)
        return value

    def required_string(self, name: str, *, max_len: int | None = None) -> str:
        value = self.string(name, required=True, max_len=max_len, allow_empty=False)
        assert value is not None  # noqa: S101 - narrowed by required=True
        return value

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        low: int | None = None,
        high: int | None = None,
        choices: tuple[int, ...] | None = None,
    ) -> int | None:
        value = self.body.get(name)
        if value is None:
            if required:
                raise HcpError.bad_parameter(name)
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise HcpError.bad_parameter(name)
        if (low is not None and value < low) or (high is not None and value > high):
            raise HcpError.bad_parameter(name)
        if choices is not None and value not in choices:
            raise HcpError.bad_parameter(name)
        return value

    def required_int(self, name: str, **limits: Any) -> int:
        value = self.integer(name, required=True, **limits)
        assert value is not None  # noqa: S101 - narrowed by required=True
        return value

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        text = self.string(name, required=required)
        if text is None or (text == "" and not required):
            return None
        moment = parse_hcp_time(text)
        if moment is None or exceeds_max_wall_time(moment):
            raise HcpError.bad_parameter(name)
        return moment

    def paging(self, *, required: bool = True) -> tuple[int, int]:
        page_no = self.integer("pageNo", required=required, low=1, high=MAX_PAGE_NO)
        page_size = self.integer("pageSize", required=required, low=1, high=MAX_PAGE_SIZE)
        return page_no or 1, page_size or MAX_PAGE_SIZE

    def list_of(
        self, name: str, *, required: bool = False, max_len: int | None = None
    ) -> list[Any]:
        value = self.body.get(name)
        if value is None:
            if required:
                raise HcpError.bad_parameter(name)
            return []
        if not isinstance(value, list) or (max_len is not None and len(value) > max_len):
            raise HcpError.bad_parameter(name)
        if required and not value:
            raise HcpError.bad_parameter(name)
        return value

    def comma_list(self, name: str) -> list[str] | None:
        """HCP's comma-separated id strings (`"id1,id2"`); None when absent or empty."""
        text = self.string(name)
        if not text:
            return None
        items = [item.strip() for item in text.split(",")]
        if any(not item for item in items):
            raise HcpError.bad_parameter(name)
        return items
