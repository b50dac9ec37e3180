"""Logging filters that keep secrets out of log lines.

An invitation link is a bearer secret: whoever holds it may register. Django's request and
development-server loggers print request paths, so the token is masked before any handler
writes the line.
"""

from __future__ import annotations

import logging
import re

_INVITATION_TOKEN = re.compile(r"(/invitations/i/)[^/\s\"?]+")
MASK = r"\1<token>"


def mask_secrets(text: str) -> str:
    return _INVITATION_TOKEN.sub(MASK, text)


class MaskSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
