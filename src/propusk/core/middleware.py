"""Pages with personal data are never kept by a browser or a shared cache.

Every response to a signed-in user (the staff pages, the admin, their error pages) and every
response of the public invitation page (its address is a secret and its form takes personal
data) says ``Cache-Control: no-store, private`` - merged with what the view set - and
``Pragma: no-cache`` for HTTP/1.0 caches. A shared reception computer's back button or disk
cache then shows nobody's visitors. Static files never come through here: the web server (or
runserver's static handler) serves them before any middleware.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control

# Pages open without login that still show or take personal data.
PRIVATE_PUBLIC_VIEWS = frozenset({"invitations:public"})


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if _is_private(request):
            patch_cache_control(response, no_store=True, private=True)
            response.headers.setdefault("Pragma", "no-cache")
        return response


def _is_private(request: HttpRequest) -> bool:
    match = request.resolver_match
    if match is not None and match.view_name in PRIVATE_PUBLIC_VIEWS:
        return True
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated
