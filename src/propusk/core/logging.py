"""Logging filters that keep secrets and ID numbers out of log lines.

An invitation link is a bearer secret: whoever holds it may register. An ID number (IIN) is
personal data, and an old bookmark or a mistyped search can put one in a query string. Django's
request and development-server loggers print request paths, so both are masked before any
handler writes the line - in the message and in the traceback of an error.

Django configures handlers of its own before the project's LOGGING (its DEFAULT_LOGGING: a
console handler on the ``django`` logger that prints with DEBUG on, ``django.server``,
``mail_admins``), and a handler keeps printing until it is replaced. settings.LOGGING
replaces every one of them with a handler that has ``MaskSecretsFilter``; a test checks that
no handler is left without it.
"""

from __future__ import annotations

import logging
import re

_INVITATION_TOKEN = re.compile(r"(/invitations/i/)[^/\s\"?]+")
# Twelve digits on their own (an IIN), not part of a longer number or word.
_NATIONAL_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{12}(?![0-9A-Za-z])")


def mask_secrets(text: str, *, html: bool = False) -> str:
    """``text`` with invitation tokens and ID numbers replaced by placeholders (escaped for
    HTML when ``html``)."""
    left, right = ("&lt;", "&gt;") if html else ("<", ">")
    text = _INVITATION_TOKEN.sub(lambda match: f"{match.group(1)}{left}token{right}", text)
    return _NATIONAL_ID.sub(f"{left}national-id{right}", text)


class MaskSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Rendered here, as the formatter would, so that it can be masked.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True
