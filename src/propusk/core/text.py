"""Text that people type and others read: a visitor's name, a group's name, a purpose.

One rule for the forms (a message on the field) and the services (so no other path stores
it): the text is normalised to NFC with every run of whitespace made one space, and refused if
it holds an invisible or control character - Unicode's "other" categories (Cc, Cf, Co, Cn:
zero-width spaces and joiners, the bidi marks, embeddings, overrides and isolates U+200E/F,
U+202A-U+202E, U+2066-U+2069, the BOM, the soft hyphen...) and the few invisible characters
filed as letters or marks (Hangul fillers, the braille blank, variation selectors). A
direction override can make one name display as another; an invisible character makes two
names that look the same differ. A person's name needs a letter; other text a letter or digit.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Invisible, yet not in Unicode's "other" categories.
_INVISIBLE = frozenset(
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u2800"  # braille pattern blank
) | frozenset(chr(c) for c in [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])


NO_LETTER = _("A name must contain at least one letter.")


def _is_invisible(char: str) -> bool:
    return unicodedata.category(char).startswith("C") or char in _INVISIBLE


def _normalized(value: str | None) -> str:
    text = " ".join(unicodedata.normalize("NFC", value or "").split())
    if any(_is_invisible(char) for char in text):
        raise ValidationError(
            _(
                "This contains invisible or control characters (such as direction marks or "
                "zero-width spaces): please type it again."
            ),
            code="invisible",
        )
    return text


def clean_name(value: str | None) -> str:
    """A part of a person's name, normalised; "" stays "" (the caller decides if required).

    ``ValidationError`` for invisible or control characters, or for a name with no letter.
    Any script's letters, combining marks, spaces, hyphens and apostrophes pass.
    """
    text = _normalized(value)
    if text and not any(unicodedata.category(char).startswith("L") for char in text):
        raise ValidationError(NO_LETTER, code="no_letter")
    return text


def clean_visible_text(value: str | None) -> str:
    """One line of text shown to others (a group's name, a purpose), normalised like a name.

    ``ValidationError`` for invisible or control characters, or for text with neither a
    letter nor a digit. "" stays "".
    """
    text = _normalized(value)
    if text and not any(unicodedata.category(char)[0] in "LN" for char in text):
        raise ValidationError(
            _("This must contain at least one letter or digit."), code="no_letter_or_digit"
        )
    return text
