"""A logging filter that masks the HCP events token in request paths.

The webhook's address carries its token (events.subscription); Django's request log prints
the path of a refused request and the development server prints every request line.
settings.LOGGING puts this filter on every handler, beside core.logging's.
"""

from __future__ import annotations

import logging
import re

_EVENTS_TOKEN = re.compile(r"(/hcp/events/)[^/\s\"?]+")


def mask_events_token(text: str) -> str:
    return _EVENTS_TOKEN.sub(r"\1<token>", text)


class MaskEventsTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_events_token(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_text:
            record.exc_text = mask_events_token(record.exc_text)
        return True
