"""The webhook HCP pushes events to (``OnEventNotify``): what it checks, stores and answers.

One function, ``receive_push``, decides every answer; two doors lead to it:

- ``PushFastPath`` (propusk.wsgi wraps the Django application in it): requests under
  ``/hcp/events/`` are answered here, before Django's request handling and its middleware,
  which are the staff pages' (sessions, sign-in, language, messages, sign-in lock-outs, CSRF,
  no-store for signed-in users). HCP is not a browser and needs none of them; running them
  cost more CPU than storing the event (docs/events.md, Benchmarks). This is what gunicorn,
  uvicorn and ``manage.py runserver`` (``make run``) serve.
- ``views.hcp_push``, the same in Django's URLconf, for what does not go through
  propusk.wsgi: the test client and the live test server.

No session, no CSRF, no login: the push is authenticated by the subscription token in the
path (events.subscription says why the path), compared in constant time, and optionally by
the source address (PROPUSK_HCP_EVENTS_ALLOWED_IPS; REMOTE_ADDR only, as elsewhere). The
events are stored in one statement before the answer and processed by workers; HCP gets its
answer in milliseconds, which matters because it pushes one event at a time, in order, and
holds the next ones while we answer.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

PREFIX = "/hcp/events/"

# HCP's own envelope ("code" 0, as its OpenAPI answers); a receiver's answer body is not
# documented, only its status: anything but 2xx makes HCP keep the event and retry.
SUCCESS = b'{"code": "0", "msg": "Success"}'


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    refused: bool = False  # logged here (without the path, which holds the token tried)
    allow: str | None = None  # for 405


def _refuse(status: int, message: str, *, allow: str | None = None) -> Answer:
    body = json.dumps({"code": str(status), "msg": message}).encode()
    return Answer(status, body, refused=True, allow=allow)


@lru_cache(maxsize=8)
def _networks(
    allowed: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in allowed)


def _address_allowed(remote_addr: str) -> bool:
    allowed = tuple(settings.PROPUSK_HCP_EVENTS_ALLOWED_IPS)
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in _networks(allowed))


def _token_matches(given: str) -> bool:
    expected: str = settings.PROPUSK_HCP_EVENTS_TOKEN
    if not expected:
        logger.warning("HCP push refused: PROPUSK_HCP_EVENTS_TOKEN is not set")
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def receive_push(
    *,
    method: str,
    token: str | None,
    remote_addr: str,
    content_length: str | None,
    read: Callable[[int], bytes],
) -> Answer:
    """Check, store and answer one push. ``token`` is the path segment after /hcp/events/
    (None: none given); ``read(n)`` reads at most n bytes of the body."""
    from hikcentral import PushFormatError, parse_event_notify
    from hikcentral.timefmt import parse_utc_offset
    from propusk.events.models import EventSource
    from propusk.events.services import EventTooLong, store_events

    if token is None:
        logger.warning("HCP push refused: no token in the address")
        return _refuse(401, "Unauthorized")
    if method != "POST":
        logger.warning("HCP push refused: method %s (from %s)", method[:10], remote_addr)
        return _refuse(405, "Method Not Allowed", allow="POST")
    if not _address_allowed(remote_addr):
        logger.warning("HCP push refused: %s is not in PROPUSK_HCP_EVENTS_ALLOWED_IPS", remote_addr)
        return _refuse(403, "Forbidden")
    if not _token_matches(token):
        logger.warning("HCP push refused: wrong token (from %s)", remote_addr)
        return _refuse(403, "Forbidden")
    limit = int(settings.PROPUSK_HCP_EVENTS_MAX_BODY_BYTES)
    try:
        declared = int(content_length or 0)
    except ValueError:
        logger.warning("HCP push refused: bad Content-Length (from %s)", remote_addr)
        return _refuse(400, "Bad Content-Length")
    if declared > limit:
        logger.warning("HCP push refused: %d bytes declared, limit %d", declared, limit)
        return _refuse(413, "Payload Too Large")
    body = read(limit + 1)
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
    return Answer(200, SUCCESS)


def token_of(path: str) -> tuple[bool, str | None]:
    """(is a webhook path, the token in it): ``/hcp/events/`` -> (True, None),
    ``/hcp/events/<token>/`` -> (True, token); anything else under the prefix, e.g. without
    the trailing slash, is left to Django (False) as it was before this path existed."""
    rest = path[len(PREFIX) :]
    if rest == "":
        return True, None
    if rest.endswith("/") and "/" not in rest[:-1]:
        return True, rest[:-1]
    return False, None


StartResponse = Callable[..., Any]


class PushFastPath:
    """WSGI middleware: the webhook answered before Django's request handling (module doc).

    What Django's handler would do for it and still matters is done here: the database
    connections are checked after each request (too old or broken ones are closed:
    ``_close_spoilt_connections``), an unexpected error is logged and
    answered 500 (nothing stored: the statement did not commit, HCP pushes again), and the
    body is read from ``wsgi.input`` no further than Content-Length.
    """

    def __init__(self, application: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]):
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self.application(environ, start_response)
        ours, token = token_of(path)
        if not ours:
            return self.application(environ, start_response)
        answer = self._answer(environ, token)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(answer.body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if answer.allow:
            headers.append(("Allow", answer.allow))
        start_response(f"{answer.status} {_REASONS.get(answer.status, '')}".strip(), headers)
        return [answer.body]

    def _answer(self, environ: dict[str, Any], token: str | None) -> Answer:
        stream = environ.get("wsgi.input")
        declared = environ.get("CONTENT_LENGTH") or None
        terminated = bool(environ.get("wsgi.input_terminated"))
        try:
            return receive_push(
                method=environ.get("REQUEST_METHOD", ""),
                token=token,
                remote_addr=environ.get("REMOTE_ADDR", ""),
                content_length=declared,
                read=lambda size: _read(stream, declared, size, terminated=terminated),
            )
        except Exception:
            # The storing statement did not commit: nothing is half-stored, HCP pushes again.
            # Logged as Django logs a server error (the events log filter masks any token).
            logger.exception("HCP push failed; answered 500")
            return Answer(500, b'{"code": "500", "msg": "Internal Server Error"}')
        finally:
            _close_spoilt_connections()


def _close_spoilt_connections() -> None:
    """After a push, as Django after a request (``close_old_connections``), but without its
    health check: a connection that had an error, was left outside autocommit or is older
    than CONN_MAX_AGE is closed; a healthy one is kept without the ``SELECT 1`` that Django's
    CONN_HEALTH_CHECKS sends before each request's first query (a round trip per push). A
    connection that died while idle (the database restarted) fails one push with 500 - HCP
    pushes it again - and is closed then."""
    from django.db import connections

    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        if (
            conn.errors_occurred
            or conn.get_autocommit() != conn.settings_dict["AUTOCOMMIT"]
            or (conn.close_at is not None and now >= conn.close_at)
        ):
            conn.close()


def _read(stream: Any, declared: str | None, size: int, *, terminated: bool) -> bytes:
    """At most ``size`` bytes of the body, never past Content-Length (WSGI: reading beyond
    it may block); without one, what the server gives up to ``size`` if it ends the stream
    (``wsgi.input_terminated``, gunicorn's chunked bodies), else nothing."""
    if stream is None:
        return b""
    if declared is not None:
        try:
            size = min(size, int(declared))
        except ValueError:
            return b""
    elif not terminated:
        return b""  # as Django: without a length, the body is empty
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
}
