"""Per-token rate limits: DRF throttles counting on the shared cache (``core.throttle``:
fixed windows, atomic increments, keys hashed). Over the limit: 429 with ``Retry-After``.

Two budgets per token (or per signed-in user): every request (``PROPUSK_API_RATE``) and,
on top, registrations, which decode a photo and run the face check
(``PROPUSK_API_REGISTER_RATE``). Rates are "N/second|minute|hour|day"; 0 turns one off.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from propusk.api.authentication import token_of
from propusk.core import throttle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "120/minute" -> (120, 60). ValueError for anything else."""
    count, _, period = rate.strip().partition("/")
    seconds = _PERIODS.get(period.strip()[:1].lower())
    if not count.strip().isdigit() or seconds is None:
        raise ValueError(f"{rate!r} is not a rate like 120/minute")
    return int(count), seconds


def client_ident(request: Request) -> str:
    token = token_of(request)
    if token is not None:
        return f"token:{token.pk}"
    return f"user:{request.user.pk}"


class _CacheThrottle(BaseThrottle):
    scope = "api"
    setting = "API_RATE"

    def __init__(self) -> None:
        self._retry_after: int | None = None

    def applies(self, request: Request, view: Any) -> bool:
        return True

    def allow_request(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return True  # refused by authentication anyway
        if not self.applies(request, view):
            return True
        limit, window = parse_rate(getattr(settings, self.setting))
        result = throttle.hit(self.scope, client_ident(request), limit=limit, window=window)
        self._retry_after = result.retry_after
        return result.allowed

    def wait(self) -> float | None:
        return self._retry_after


class TokenRateThrottle(_CacheThrottle):
    scope = "api"
    setting = "API_RATE"


class RegistrationRateThrottle(_CacheThrottle):
    scope = "api-register"
    setting = "API_REGISTER_RATE"

    def applies(self, request: Request, view: Any) -> bool:
        return getattr(view, "action", None) == "create" and request.method == "POST"
