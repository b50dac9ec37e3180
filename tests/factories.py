"""Shared test factories: real objects through the real services, no fixtures files."""

from __future__ import annotations

import io
import itertools
from typing import Any

from PIL import Image

from propusk.visitors.models import Visitor
from propusk.visitors.national_id import iin_check_digit
from propusk.visitors.services import VisitorData, register_visitor

_counter = itertools.count(1)


def make_jpeg(
    width: int = 640,
    height: int = 640,
    color: tuple[int, int, int] = (200, 160, 140),
    *,
    format: str = "JPEG",
    mode: str = "RGB",
    **save_kwargs: Any,
) -> bytes:
    """A plain image (a face-coloured square by default), JPEG unless told otherwise."""
    fill: Any = color if mode in {"RGB", "RGBA"} else color[0]
    if mode == "RGBA" and len(color) == 3:
        fill = (*color, 128)
    image = Image.new(mode, (width, height), fill)
    buffer = io.BytesIO()
    image.save(buffer, format=format, **save_kwargs)
    return buffer.getvalue()


def make_iin(first_eleven: str | None = None) -> str:
    """A valid IIN: the given (or a generated) 11 digits plus the right check digit."""
    if first_eleven is None:
        for n in itertools.count(next(_counter) * 7919):
            candidate = f"900101{n % 100000:05d}"
            if iin_check_digit(candidate) is not None:
                first_eleven = candidate
                break
    assert first_eleven is not None
    check = iin_check_digit(first_eleven)
    if check is None:
        raise ValueError(f"{first_eleven} has no valid check digit")
    return f"{first_eleven}{check}"


def visitor_data(**overrides: Any) -> VisitorData:
    values: dict[str, Any] = {
        "family_name": "Ivanova",
        "given_name": "Aigerim",
        "middle_name": "",
        "phone": "+77011234567",
        "email": "guest@example.org",
        "national_id": None,
        "photo_jpeg": make_jpeg(),
        "consent": True,
    }
    values.update(overrides)
    return VisitorData(**values)


def make_visitor(**overrides: Any) -> Visitor:
    """A registered visitor with a face photo and consent (through register_visitor)."""
    actor = overrides.pop("actor", None)
    return register_visitor(data=visitor_data(**overrides), actor=actor, actor_label="test")
