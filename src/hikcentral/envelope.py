"""HCP's response envelope ``{"code": "0", "msg": "Success", "data": ...}`` and its quirks.

- ``code`` is a string, but the event-subscription calls answer the number ``0``: success is
  any spelling of zero (``"0"``, ``0``).
- ``data`` may be an object, a page, a plain string (person add returns the new personId),
  an array, ``""``, ``"null"``, or be missing.
- A page may lack ``list`` when empty (and report ``pageNo: 0, pageSize: 0``), or be no
  ``data`` at all; some endpoints report ``totalNum`` instead of ``total``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hikcentral.errors import HCPProtocolError, error_for_code, normalize_code


@dataclass(frozen=True)
class RawPage:
    """One page as received: item dicts and the paging numbers (None when absent)."""

    items: list[Mapping[str, Any]]
    total: int | None
    page_no: int | None
    page_size: int | None


def parse_envelope(body: bytes, *, path: str, http_status: int | None = None) -> Any:
    """Decode a JSON envelope and return ``data``, or raise the typed error for its code."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HCPProtocolError(
            f"response is not JSON ({len(body)} bytes)", path=path, http_status=http_status
        ) from exc
    return check_envelope(payload, path=path, http_status=http_status)


def check_envelope(payload: object, *, path: str, http_status: int | None = None) -> Any:
    """Check an already decoded envelope; return ``data`` on success."""
    if not isinstance(payload, Mapping) or "code" not in payload:
        raise HCPProtocolError(
            "response is not an HCP envelope (no 'code')", path=path, http_status=http_status
        )
    code = payload["code"]
    msg = payload.get("msg")
    msg_text = msg if isinstance(msg, str) else None
    if normalize_code(code) == 0:
        return payload.get("data")
    raise error_for_code(
        str(code), msg_text, path=path, data=payload.get("data"), http_status=http_status
    )


def is_empty_data(data: object) -> bool:
    """What "no data" looks like on the wire: missing, ``null``, ``""`` or ``"null"``."""
    return data is None or (isinstance(data, str) and data in ("", "null"))


def data_string(data: object, *, path: str) -> str | None:
    """A plain-string ``data`` (e.g. a new personId); None for ``""``, ``"null"`` or missing."""
    if is_empty_data(data):
        return None
    if isinstance(data, str):
        return data
    if isinstance(data, int) and not isinstance(data, bool):
        return str(data)
    raise HCPProtocolError(f"expected a string in data, got {type(data).__name__}", path=path)


def data_object(data: object, *, path: str) -> Mapping[str, Any]:
    """An object ``data``; anything else is a protocol error."""
    if isinstance(data, Mapping):
        return data
    raise HCPProtocolError(f"expected an object in data, got {_describe(data)}", path=path)


def data_page(data: object, *, path: str) -> RawPage:
    """A page ``data``: a missing or null ``list`` is an empty page; ``totalNum`` = ``total``.

    No ``data`` at all (missing, ``""``, ``"null"``) is an empty page without a total."""
    if is_empty_data(data):
        return RawPage(items=[], total=None, page_no=None, page_size=None)
    page = data_object(data, path=path)
    raw_items = page.get("list")
    if raw_items is None:
        raw_items = []
    if not isinstance(raw_items, list) or not all(isinstance(i, Mapping) for i in raw_items):
        raise HCPProtocolError("page 'list' is not a list of objects", path=path)
    total = _optional_int(page.get("total", page.get("totalNum")), "total", path)
    return RawPage(
        items=raw_items,
        total=total,
        page_no=_optional_int(page.get("pageNo"), "pageNo", path),
        page_size=_optional_int(page.get("pageSize"), "pageSize", path),
    )


def _optional_int(value: object, name: str, path: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise HCPProtocolError(f"page field {name!r} is not a number: {value!r}", path=path)


def _describe(data: object) -> str:
    if isinstance(data, str):
        return f"string of {len(data)} chars" if data not in ("", "null") else repr(data)
    return type(data).__name__
