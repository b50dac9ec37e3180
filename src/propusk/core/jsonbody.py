"""JSON request bodies: the one guard against a body nested too deeply for Python's parser,
and the parser of the views that take JSON by hand (browser push, the Telegram webhook).

``json`` recurses once per level: a body of a few thousand ``[`` raises ``RecursionError``,
which would be a server error (500). It is the client's malformed input, so it is refused as
a parse error (400) like any other. The REST API's parser (``api.parsers``) uses the same
guard around DRF's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.utils.translation import gettext_lazy as _

NESTED_TOO_DEEPLY = _("JSON parse error - nested too deeply.")


class BadJSON(ValueError):
    """The body is not the JSON asked for; the message says why, for the client."""


@contextmanager
def refusing_deep_nesting() -> Iterator[None]:
    """Turn the ``RecursionError`` of a JSON parser inside into ``BadJSON``."""
    try:
        yield
    except RecursionError:
        raise BadJSON(str(NESTED_TOO_DEEPLY)) from None


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; ``BadJSON`` if it is not JSON (or not UTF-8), is nested too
    deeply, or is JSON but not an object."""
    with refusing_deep_nesting():
        try:
            value = json.loads(raw)
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            raise BadJSON("the request is not JSON") from None
    if not isinstance(value, dict):
        raise BadJSON("the request is not a JSON object")
    return value
