"""``/metrics``: the Prometheus exposition, for Prometheus (a bearer token) or a signed-in
administrator or security employee.

- ``Authorization: Bearer <PROPUSK_METRICS_TOKEN>`` (compared in constant time): the figures.
- Otherwise a signed-in administrator or security employee: the figures.
- Signed in with another role: 403. Neither: 401 with ``WWW-Authenticate: Bearer`` - also
  when no token is configured, and for a wrong token (which is never compared with nothing).

The result is kept for ``PROPUSK_METRICS_CACHE_SECONDS`` in the process: scrapes in between,
and requests that arrive while one is being collected, get it without touching the database.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from typing import Final

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from propusk.accounts.roles import Role, has_role
from propusk.metrics.collectors import build_registry

# The classic text format, which every Prometheus version reads (every name here is a plain
# one, so the newer 1.0.0 text would be the same bytes).
# Who may read the metrics in a browser (besides Prometheus with the token).
METRICS_ROLES: Final = (Role.ADMINISTRATOR, Role.SECURITY)

clock: Callable[[], float] = time.monotonic  # tests replace it


class _Cache:
    """The last exposition and when it was made (per process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.body: bytes | None = None
        self.made_at = 0.0

    def get(self, make: Callable[[], bytes]) -> bytes:
        with self.lock:  # one collection at a time; the others wait and take its result
            now = clock()
            fresh = now - self.made_at < settings.PROPUSK_METRICS_CACHE_SECONDS
            if self.body is None or not fresh:
                self.body = make()
                self.made_at = clock()
            return self.body

    def clear(self) -> None:
        with self.lock:
            self.body = None


exposition = _Cache()
_registry = build_registry()


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_valid(request: HttpRequest) -> bool:
    expected = settings.PROPUSK_METRICS_TOKEN
    given = _bearer_token(request)
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _refused(status: int) -> HttpResponse:
    response = HttpResponse(
        "Unauthorized\n" if status == 401 else "Forbidden\n",
        status=status,
        content_type="text/plain; charset=utf-8",
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="propusk-metrics"'
    response["Cache-Control"] = "no-store, private"
    return response


@login_not_required
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not token_valid(request):
        if not request.user.is_authenticated:
            return _refused(401)
        if not has_role(request.user, *METRICS_ROLES):
            return _refused(403)
    body = exposition.get(lambda: generate_latest(_registry))
    response = HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response["Cache-Control"] = "no-store, private"
    return response
