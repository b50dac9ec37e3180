"""A visitor's name, checked by one rule wherever it comes in (``propusk.core.text``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from propusk.core.text import NO_LETTER, clean_name

if TYPE_CHECKING:
    from propusk.visitors.services import VisitorData

NAME_FIELDS = ("family_name", "given_name", "middle_name")
REQUIRED_NAME_FIELDS = frozenset({"family_name", "given_name"})


def with_clean_names(data: VisitorData) -> VisitorData:
    """``data`` with its names normalised (NFC, single spaces).

    ``ValidationError`` keyed by field for a name with invisible or control characters
    (bidi overrides, zero-width characters...) or with no letter; the family and given names
    must have one, the middle name may be empty.
    """
    cleaned: dict[str, str] = {}
    errors: dict[str, ValidationError] = {}
    for field in NAME_FIELDS:
        try:
            cleaned[field] = clean_name(getattr(data, field))
        except ValidationError as error:
            errors[field] = error
            continue
        if not cleaned[field] and field in REQUIRED_NAME_FIELDS:
            errors[field] = ValidationError(NO_LETTER, code="no_letter")
    if errors:
        raise ValidationError(errors)
    return dataclasses.replace(
        data,
        family_name=cleaned["family_name"],
        given_name=cleaned["given_name"],
        middle_name=cleaned["middle_name"],
    )
