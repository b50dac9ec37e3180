"""The webhook HCP pushes events to (``OnEventNotify``).

No session, no CSRF: HCP is not a browser. It is authenticated by the subscription token in
the path (events.subscription says why the path), compared in constant time, and optionally
by the source address (PROPUSK_HCP_EVENTS_ALLOWED_IPS; REMOTE_ADDR only, as elsewhere). The
events are stored in one transaction before the answer and processed by workers; HCP gets
its answer in milliseconds, which matters because it pushes one event at a time, in order,
and holds the next ones while we answer.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from hikcentral import PushFormatError, parse_event_notify
from hikcentral.timefmt import parse_utc_offset
from propusk.events.models import EventSource
from propusk.events.services import EventTooLong, store_events

logger = logging.getLogger(__name__)

# HCP's own envelope ("code" 0, as its OpenAPI answers); a receiver's answer body is not
# documented, only its status: anything but 2xx makes HCP keep the event and retry.
SUCCESS = {"code": "0", "msg": "Success"}


def _refuse(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"code": str(status), "msg": message}, status=status)
    # Logged here without the path (it holds the token someone tried): not by Django too.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@lru_cache(maxsize=8)
def _networks(
    allowed: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in allowed)


def _address_allowed(request: HttpRequest) -> bool:
    allowed = tuple(settings.PROPUSK_HCP_EVENTS_ALLOWED_IPS)
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks(allowed))


def _token_matches(given: str) -> bool:
    expected: str = settings.PROPUSK_HCP_EVENTS_TOKEN
    if not expected:
        logger.warning("HCP push refused: PROPUSK_HCP_EVENTS_TOKEN is not set")
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


@csrf_exempt
@login_not_required
@require_POST
def hcp_push(request: HttpRequest, token: str) -> JsonResponse:
    client = request.META.get("REMOTE_ADDR", "")
    if not _address_allowed(request):
        logger.warning("HCP push refused: %s is not in PROPUSK_HCP_EVENTS_ALLOWED_IPS", client)
        return _refuse(403, "Forbidden")
    if not _token_matches(token):
        logger.warning("HCP push refused: wrong token (from %s)", client)
        return _refuse(403, "Forbidden")
    limit = int(settings.PROPUSK_HCP_EVENTS_MAX_BODY_BYTES)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _refuse(400, "Bad Content-Length")
    if declared > limit:
        logger.warning("HCP push refused: %d bytes declared, limit %d", declared, limit)
        return _refuse(413, "Payload Too Large")
    body = request.read(limit + 1)
    if len(body) > limit:
        logger.warning("HCP push refused: body over %d bytes", limit)
        return _refuse(413, "Payload Too Large")
    try:
        pushed = parse_event_notify(body, site_tz=parse_utc_offset(settings.HCP_UTC_OFFSET))
    except PushFormatError as exc:
        # The message names a field, never a value.
        logger.warning("HCP push refused: %s", exc)
        return _refuse(400, f"Bad Request: {exc}")
    try:
        result = store_events(pushed.events, source=EventSource.PUSH)
    except EventTooLong as exc:
        logger.warning("HCP push refused: %s", exc)
        return _refuse(400, f"Bad Request: {exc}")
    # Debug: HCP pushes one event per request, hundreds a second at a busy site.
    logger.debug(
        "HCP push: %d event(s), %d new, %d to process, %d already stored",
        result.received,
        result.stored,
        result.pending,
        result.duplicates,
    )
    return JsonResponse(SUCCESS)


@csrf_exempt
@login_not_required
def hcp_push_without_token(request: HttpRequest) -> JsonResponse:
    logger.warning("HCP push refused: no token in the address")
    return _refuse(401, "Unauthorized")
