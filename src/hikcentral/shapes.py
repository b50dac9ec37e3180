"""The shape of an HCP answer without its values, for diagnostics (``hcp_check --deep``).

HCP's answers carry names, phone numbers, card numbers, faces and ids: a diagnostic printed on
a real site must show which fields came back and of what kind, never what they hold. So
strings are described by kind and length only (``string(digits, 1)``, ``string(hex, 32)``,
``string(time)``, ``""``, ``"null"``), pictures by size and format, and only numbers - counts,
codes - are shown as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = ["describe"]

MAX_DEPTH: Final = 6
MAX_KEYS: Final = 40
MAX_ITEM_SHAPES: Final = 3

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_DIGITS = re.compile(r"^-?[0-9]+$")
_HEX = re.compile(r"^[0-9a-fA-F]{8,}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")
_IMAGE_MAGIC: Final = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF8", "gif"),
    (b"BM", "bmp"),
)


def describe(value: object, *, depth: int = MAX_DEPTH) -> str:
    """A one-line description of a decoded JSON value (or picture bytes), values left out."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return f"number {value}"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return _describe_string(value)
    if isinstance(value, bytes | bytearray):
        return _describe_bytes(bytes(value))
    if depth <= 0:
        return "..."
    if isinstance(value, Mapping):
        return _describe_object(value, depth)
    if isinstance(value, list | tuple):
        return _describe_list(list(value), depth)
    return type(value).__name__


def _describe_string(text: str) -> str:
    if text in ("", "null"):
        return f'"{text}"'
    if _TIME.match(text):
        return "string(time)"
    if _DIGITS.match(text):
        return f"string(digits, {len(text)})"
    if _HEX.match(text):
        return f"string(hex, {len(text)})"
    return f"string({len(text)})"


def _describe_bytes(content: bytes) -> str:
    kind = next((name for magic, name in _IMAGE_MAGIC if content.startswith(magic)), None)
    return f"{len(content)} bytes" + (f" ({kind} image)" if kind else "")


def _describe_object(value: Mapping[object, object], depth: int) -> str:
    if not value:
        return "{}"
    parts = []
    for index, (key, item) in enumerate(value.items()):
        if index == MAX_KEYS:
            parts.append(f"... {len(value) - MAX_KEYS} more")
            break
        name = key if isinstance(key, str) and _FIELD_NAME.match(key) else "<key>"
        parts.append(f"{name}: {describe(item, depth=depth - 1)}")
    return "{" + ", ".join(parts) + "}"


def _describe_list(items: list[object], depth: int) -> str:
    if not items:
        return "[]"
    shapes: list[str] = []
    for item in items:
        shape = describe(item, depth=depth - 1)
        if shape not in shapes:
            shapes.append(shape)
    if len(shapes) > MAX_ITEM_SHAPES:
        shapes = [*shapes[:MAX_ITEM_SHAPES], f"... {len(shapes) - MAX_ITEM_SHAPES} more shapes"]
    return f"list of {len(items)}: " + " | ".join(shapes)
