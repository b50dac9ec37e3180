"""HCP's response envelope `{"code", "msg", "data"}` and the error codes the simulator uses."""

from __future__ import annotations

import json
from typing import Any, Final

# Gateway codes (answered before any business logic).
NO_APP_KEY: Final = "0x02401000"
UNKNOWN_PARTNER: Final = "0x02401001"
NO_SIGNATURE: Final = "0x02401002"
INVALID_SIGNATURE: Final = "0x02401003"
QUOTA_EXCEEDED: Final = "0x02401009"
RESPONSE_TOO_LONG: Final = "0x00072004"

# Translated small codes.
BAD_PARAMETER: Final = "2"
NOT_SUPPORTED: Final = "8"
NOT_FOUND: Final = "128"
ALREADY_EXISTS: Final = "131"
USER_LOCKED: Final = "65"

# Marks an envelope without a `data` key (errors, subscription calls).
NO_DATA: Final[Any] = object()


class HcpError(Exception):
    """A business error answered in the envelope with HTTP 200."""

    def __init__(self, code: str, msg: str, data: Any = NO_DATA) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.data = data

    @classmethod
    def bad_parameter(cls, field: str, data: Any = NO_DATA) -> HcpError:
        return cls(BAD_PARAMETER, f"Incorrect request parameter. [{field} parameter error]", data)

    @classmethod
    def not_found(cls, what: str) -> HcpError:
        return cls(NOT_FOUND, f"The requested resource does not exist. [{what}]")

    @classmethod
    def already_exists(cls, what: str) -> HcpError:
        return cls(ALREADY_EXISTS, f"The requested resource already exists. [{what}]")


def envelope(code: str, msg: str, data: Any = NO_DATA, *, numeric: bool = False) -> bytes:
    """Serialise an envelope. `numeric` writes a decimal code as a JSON number, as the
    event-subscription calls do; hexadecimal gateway codes always stay strings."""
    code_value: str | int = int(code) if numeric and code.isdigit() else code
    body: dict[str, Any] = {"code": code_value, "msg": msg}
    if data is not NO_DATA:
        body["data"] = data
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def success(data: Any = NO_DATA, *, numeric: bool = False) -> bytes:
    return envelope("0", "Success", data, numeric=numeric)


def error_body(error: HcpError, *, numeric: bool = False) -> bytes:
    return envelope(error.code, error.msg, error.data, numeric=numeric)


def page(
    items: list[Any],
    page_no: int,
    page_size: int,
    *,
    total_key: str = "total",
    empty_without_list: bool = False,
) -> dict[str, Any]:
    """One page of `items` (the full, filtered list). A page past the end has `list: []`.
    With `empty_without_list` (a quirk) a page with no rows has no `list` key, and an empty
    result reports pageNo and pageSize 0."""
    total = len(items)
    if total == 0 and empty_without_list:
        return {total_key: 0, "pageNo": 0, "pageSize": 0}
    start = (page_no - 1) * page_size
    rows = items[start : start + page_size]
    result: dict[str, Any] = {total_key: total, "pageNo": page_no, "pageSize": page_size}
    if rows or not empty_without_list:
        result["list"] = rows
    return result
