"""Sign-in throttling: django-axes, configured for this site (settings: ``AXES_*``).

Failed sign-ins are counted per account (``AXES_FAILURE_LIMIT``) and per client address
(``LOGIN_ADDRESS_FAILURE_LIMIT``, larger: a reception desk shares one address) over the
cool-off (``AXES_COOLOFF_TIME``). When either count reaches its limit, sign-in is refused -
the right password too - until the failures that reached it are older than the cool-off.
Both sign-in pages (``/login/`` and ``/admin/login/``) go through the same backend; the page
shows why and answers 429 with ``Retry-After``. Attempts refused during a lockout are not
counted, so hammering a locked account does not lengthen its lockout.

The client address is ``REMOTE_ADDR`` only, as for the other throttles (README, Throttling).
Every failure, every lockout and every sign-in through a page reaches the audit log
(``propusk.accounts.services``); axes keeps its rows (``AccessAttempt``) only as counters.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off, get_credentials
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import ngettext

from propusk.accounts import services


def client_address(request: HttpRequest) -> str | None:
    """``AXES_CLIENT_IP_CALLABLE``: ``REMOTE_ADDR`` (the client's, behind a proxy of
    PROPUSK_TRUSTED_PROXIES: propusk.core.proxy); ``X-Forwarded-For`` is not read here."""
    return request.META.get("REMOTE_ADDR") or None


class SignInBackend(AxesStandaloneBackend):
    """Refuses a sign-in while its account or address is locked out (then ModelBackend checks
    the password). Only a sign-in with a request - the two sign-in pages - has an address to
    count: ``authenticate()`` without one (the test client's ``login()``, a shell) is passed on
    unchecked instead of failing."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is not None:
            super().authenticate(request, username, password, **kwargs)


class SignInAttemptHandler(AxesDatabaseHandler):
    """``AXES_HANDLER``: axes' database handler with a limit per account and another per
    address, a narrower reset on success, and every outcome written to the audit log."""

    def counted_failures(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> list[tuple[str, QuerySet[AccessAttempt], int]]:
        """The failures within the cool-off that count against this sign-in, with the limit
        of each: the account's, then the address's."""
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        username = get_client_username(request, credentials)
        address = request.axes_ip_address  # type: ignore[attr-defined]
        return [
            ("account", recent.filter(username=username), settings.AXES_FAILURE_LIMIT),
            ("address", recent.filter(ip_address=address), settings.LOGIN_ADDRESS_FAILURE_LIMIT),
        ]

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        """Axes compares one count with one limit, ``AXES_FAILURE_LIMIT`` (the account's). The
        address's count is shifted by the difference between the two limits, so the comparison
        holds exactly when the account or the address has reached its own limit."""
        (_, account, account_limit), (_, address, address_limit) = self.counted_failures(
            request, credentials
        )
        return max(_total(account), _total(address) - (address_limit - account_limit))

    def locked_until(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> datetime | None:
        """When sign-in will be allowed again, or None if it is not locked out: for each count
        at its limit, when the failure that brought it there leaves the cool-off."""
        cool_off = get_cool_off(request)
        ends = []
        for _, attempts, limit in self.counted_failures(request, credentials):
            total = 0
            rows = attempts.order_by("-attempt_time").values_list(
                "attempt_time", "failures_since_start"
            )
            for attempt_time, failures in rows:
                total += failures
                if total >= limit:
                    ends.append(attempt_time + cool_off)
                    break
        return max(ends, default=None)

    def user_login_failed(
        self,
        sender: Any,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:  # see SignInBackend: nothing to count
            return
        # SignInBackend refused it before the password was checked: already locked out.
        refused = bool(request.axes_locked_out)  # type: ignore[attr-defined]
        super().user_login_failed(sender, credentials, request, **kwargs)
        username = get_client_username(request, credentials)
        address = request.axes_ip_address  # type: ignore[attr-defined]
        page = request.axes_path_info  # type: ignore[attr-defined]
        services.record_failed_sign_in(
            username=username, address=address, page=page, refused=refused
        )
        if request.axes_locked_out and not refused:  # type: ignore[attr-defined]
            reached = [
                name
                for name, attempts, limit in self.counted_failures(request, credentials)
                if _total(attempts) >= limit
            ]
            services.record_lockout(
                username=username, address=address, page=page, limits_reached=reached
            )

    def user_logged_in(self, sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
        super().user_logged_in(sender, request, user, **kwargs)
        # A sign-in page POSTs; a session opened by code (force_login) has no method.
        if request.method == "POST":
            services.record_sign_in(
                user=user,
                address=request.axes_ip_address,  # type: ignore[attr-defined]
                page=request.axes_path_info,  # type: ignore[attr-defined]
            )

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        """``AXES_RESET_ON_SUCCESS``: a sign-in clears its account's failures from its address
        (typos at the desk). Not failures from other addresses (someone else may be guessing),
        nor the address's failures at other accounts: signing in to one's own account must not
        reset a count of guesses at others'."""
        count, _ = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
        ).delete()
        return count


def _total(attempts: QuerySet[AccessAttempt]) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def retry_after_seconds(request: HttpRequest, credentials: dict[str, Any] | None) -> int:
    """Seconds until this locked-out sign-in may be tried again (at least 1)."""
    until = _handler().locked_until(request, credentials)
    if until is None:  # unlocked in the meantime (an administrator): say the full cool-off
        cool_off = get_cool_off(request) or timedelta(0)
        return max(1, math.ceil(cool_off.total_seconds()))
    return max(1, math.ceil((until - timezone.now()).total_seconds()))


def lockout_message_for(request: HttpRequest, username: str | None) -> str:
    return lockout_message(retry_after_seconds(request, get_credentials(username)))


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed sign-in attempts. Please try again in %(minutes)d minute.",
        "Too many failed sign-in attempts. Please try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None,
    credentials: dict[str, Any] | None,
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the sign-in page as the view rendered it (its form already
    says why, see ``forms.LockoutMessageMixin``) with 429 and ``Retry-After``. Anything else
    that authenticated with a request gets the message as plain text."""
    seconds = retry_after_seconds(request, credentials)
    if original_response is not None and original_response.status_code == 200:
        response = original_response
    else:
        response = HttpResponse(lockout_message(seconds), content_type="text/plain; charset=utf-8")
    response.status_code = 429
    response["Retry-After"] = str(seconds)
    return response


def _handler() -> SignInAttemptHandler:
    handler = AxesProxyHandler.get_implementation()
    if not isinstance(handler, SignInAttemptHandler):
        raise TypeError(f"AXES_HANDLER must be {SignInAttemptHandler.__name__}")
    return handler
