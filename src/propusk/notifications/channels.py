"""The outside channels: email, Telegram, browser push. Each ``send_*`` sends one rendered
message and returns normally, or raises ``Retry`` (may pass: the channel is down, slow, rate
limited) or ``Undeliverable`` (will not pass: no address, the user blocked the bot).

No secret reaches an error text: the bot token sits in the Telegram URL, so every error
message is built here from the status code and the API's own description, never from the
URL; the VAPID key is only handed to pywebpush.
"""

from __future__ import annotations

import json
import logging
import smtplib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import EmailMessage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """A message rendered in one recipient's language."""

    title: str
    body: str
    url: str
    language: str

    @property
    def text(self) -> str:
        return (
            f"{self.title}\n\n{self.body}\n\n{self.url}"
            if self.url
            else f"{self.title}\n\n{self.body}"
        )


class Retry(Exception):
    """The send failed in a way that may pass; ``after``: seconds the service asked to wait."""

    def __init__(self, reason: str, *, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Undeliverable(Exception):
    """The send failed in a way another try will not fix."""


class Skipped(Exception):
    """Not to be sent any more: the employee turned the channel off, unlinked Telegram or
    unsubscribed every browser after the message was queued. Not a failure."""


def email_configured() -> bool:
    return bool(settings.PROPUSK_NOTIFY_EMAIL)


def telegram_configured() -> bool:
    return bool(settings.PROPUSK_TELEGRAM_BOT_TOKEN)


def webpush_configured() -> bool:
    return bool(settings.PROPUSK_VAPID_PRIVATE_KEY and settings.PROPUSK_VAPID_PUBLIC_KEY)


def push_endpoint_allowed(endpoint: str) -> bool:
    """Whether the server may post to this subscription endpoint: https (http only where
    ``PROPUSK_WEBPUSH_ALLOW_HTTP``), on a host of ``PROPUSK_WEBPUSH_ALLOWED_HOSTS``, no
    credentials in the URL."""
    try:
        url = urlsplit(endpoint)
        host = (url.hostname or "").lower()
        url.port  # noqa: B018 - a malformed port raises ValueError
    except ValueError:
        return False
    schemes = {"https", "http"} if settings.PROPUSK_WEBPUSH_ALLOW_HTTP else {"https"}
    if url.scheme not in schemes or not host or url.username or url.password:
        return False
    for entry in settings.PROPUSK_WEBPUSH_ALLOWED_HOSTS:
        allowed = entry.lower()
        if host == allowed.lstrip(".") or (allowed.startswith(".") and host.endswith(allowed)):
            return True
    return False


# --- Email ------------------------------------------------------------------------------


def send_email(address: str, message: Message) -> None:
    if not address:
        raise Undeliverable("the employee has no email address")
    mail = EmailMessage(
        subject=message.title,
        body=message.text,
        to=[address],
        headers={"Auto-Submitted": "auto-generated"},
    )
    try:
        mail.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused:
        raise Undeliverable("the mail server refused the address") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise Retry(f"mail server: {type(exc).__name__}: {exc}"[:300]) from None


# --- Telegram ---------------------------------------------------------------------------


def telegram_call(method: str, payload: dict[str, object]) -> object:
    """Call a Bot API method; its ``result``. Raises Retry or Undeliverable (errors never
    quote the URL, which holds the token)."""
    token = settings.PROPUSK_TELEGRAM_BOT_TOKEN
    if not token:
        raise Undeliverable("Telegram is not configured (no bot token)")
    url = f"{settings.PROPUSK_TELEGRAM_API_URL}/bot{token}/{method}"
    timeout = settings.PROPUSK_TELEGRAM_TIMEOUT_SECONDS
    # A long poll waits on the server side: the read timeout must outlast it.
    poll = payload.get("timeout")
    if isinstance(poll, int | float):
        timeout += float(poll)
    try:
        response = httpx.post(url, json=payload, timeout=timeout)
    except httpx.HTTPError as exc:
        raise Retry(f"Telegram {method}: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    description = str(body.get("description", ""))[:200].replace(token, "<token>")
    if response.status_code == 200 and body.get("ok") is True:
        return body.get("result")
    if response.status_code == 429:
        parameters = body.get("parameters") or {}
        after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        raise Retry(
            f"Telegram {method}: 429 {description}",
            after=float(after) if isinstance(after, int | float) else None,
        )
    # 401/404: a token Telegram does not know; 409: getUpdates while a webhook is set.
    if response.status_code in (400, 401, 403, 404, 409):
        raise Undeliverable(f"Telegram {method}: {response.status_code} {description}")
    raise Retry(f"Telegram {method}: {response.status_code} {description}")


def send_telegram(chat_id: int | None, message: Message) -> None:
    if chat_id is None:
        raise Skipped("Telegram was unlinked")
    telegram_call(
        "sendMessage",
        {"chat_id": chat_id, "text": message.text[:4096], "disable_web_page_preview": True},
    )


# --- Browser push -----------------------------------------------------------------------


@dataclass(frozen=True)
class PushTarget:
    endpoint: str
    p256dh: str
    auth: str


def send_webpush(target: PushTarget, message: Message) -> None:
    """Push to one browser. Raises ``Gone`` when the push service says the subscription
    no longer exists (the caller deletes it)."""
    from py_vapid import VapidException
    from pywebpush import WebPushException, webpush

    if not webpush_configured():
        raise Undeliverable("browser push is not configured (no VAPID keys)")
    if not push_endpoint_allowed(target.endpoint):
        raise Undeliverable("the subscription's push service is not an allowed host")
    data = json.dumps(
        {"title": message.title, "body": message.body, "url": message.url},
        ensure_ascii=False,
    )
    try:
        webpush(
            subscription_info={
                "endpoint": target.endpoint,
                "keys": {"p256dh": target.p256dh, "auth": target.auth},
            },
            data=data,
            vapid_private_key=_vapid(settings.PROPUSK_VAPID_PRIVATE_KEY),
            vapid_claims={"sub": settings.PROPUSK_VAPID_SUBJECT},
            timeout=settings.PROPUSK_WEBPUSH_TIMEOUT_SECONDS,
            ttl=24 * 3600,
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (404, 410):
            raise Gone(f"push service: {status}, subscription gone") from None
        if status == 429 or status is None or status >= 500:
            raise Retry(f"push service: {status or 'no answer'}") from None
        raise Undeliverable(f"push service: {status}") from None
    except (VapidException, ValueError) as exc:
        # A malformed VAPID key or subscription key: no retry will fix it.
        raise Undeliverable(f"push: bad key ({type(exc).__name__})") from None
    except OSError as exc:
        # requests' connection errors and timeouts are OSErrors.
        raise Retry(f"push service: {type(exc).__name__}") from None


def _vapid(private_key: str) -> Any:
    """The VAPID signer for a private key given as PEM (``vapid --gen``'s private_key.pem)
    or as base64url (the raw 32-byte key, or DER). A malformed key is a ValueError."""
    from py_vapid import Vapid

    text = private_key.strip()
    if text.startswith("-----BEGIN"):
        return Vapid.from_pem(text.encode())
    return Vapid.from_string(text)


class Gone(Undeliverable):
    """The browser's subscription no longer exists."""
