"""Validation and normalisation of national ID numbers.

``settings.NATIONAL_ID_FORMAT`` chooses the rules:

* ``kz_iin`` - Kazakhstan's IIN (and BIN): 12 digits, the last one a check digit computed
  by the two-pass weighted sum modulo 11 (see :func:`iin_check_digit`).
* ``none`` - any 4 to 32 letters and digits (sites in other countries); letters upper-cased.

Spaces and dashes typed by people are dropped in both formats.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext_lazy as _

FORMAT_KZ_IIN = "kz_iin"
FORMAT_NONE = "none"
FORMATS = (FORMAT_KZ_IIN, FORMAT_NONE)

_IIN_WEIGHTS_FIRST = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_IIN_WEIGHTS_SECOND = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_SEPARATORS = re.compile(r"[\s\-]+")
_DIGITS_12 = re.compile(r"[0-9]{12}")
_ALNUM_4_32 = re.compile(r"[0-9A-Z]{4,32}")


def iin_check_digit(first_eleven: str) -> int | None:
    """The IIN/BIN check digit of the first 11 digits, or None if no check digit exists.

    Pass one weighs the digits 1..11; if the sum modulo 11 is 10, pass two weighs them
    3..11,1,2; if that is 10 again, the number is never issued.
    """
    if len(first_eleven) != 11 or not first_eleven.isdigit():
        raise ValueError("expected exactly 11 digits")
    digits = [int(ch) for ch in first_eleven]
    for weights in (_IIN_WEIGHTS_FIRST, _IIN_WEIGHTS_SECOND):
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return check
    return None


def is_valid_iin(value: str) -> bool:
    if not _DIGITS_12.fullmatch(value):
        return False
    return iin_check_digit(value[:11]) == int(value[11])


def normalize_national_id(value: str, *, id_format: str | None = None) -> str:
    """The canonical form of a national ID, or ValidationError saying what is wrong."""
    chosen = id_format or settings.NATIONAL_ID_FORMAT
    cleaned = _SEPARATORS.sub("", value or "")
    if chosen == FORMAT_KZ_IIN:
        if not _DIGITS_12.fullmatch(cleaned):
            raise ValidationError(_("An IIN has exactly 12 digits."), code="iin_format")
        if not is_valid_iin(cleaned):
            raise ValidationError(
                _("This IIN is not valid: please check the digits."), code="iin_checksum"
            )
        return cleaned
    if chosen == FORMAT_NONE:
        cleaned = cleaned.upper()
        if not _ALNUM_4_32.fullmatch(cleaned):
            raise ValidationError(
                _("An ID number has 4 to 32 letters and digits."), code="id_format"
            )
        return cleaned
    raise ImproperlyConfigured(
        f"NATIONAL_ID_FORMAT={chosen!r} is not known (use one of: {', '.join(FORMATS)})"
    )
