"""Headers for every page: no cache for personal data, a Content-Security-Policy.

**No store.** Pages with personal data are never kept by a browser or a shared cache.

Every response to a signed-in user (the staff pages, the admin, their error pages) and every
response of the public invitation page (its address is a secret and its form takes personal
data) says ``Cache-Control: no-store, private`` - merged with what the view set - and
``Pragma: no-cache`` for HTTP/1.0 caches. A shared reception computer's back button or disk
cache then shows nobody's visitors. Static files never come through here: the web server (or
runserver's static handler) serves them before any middleware.

**Content-Security-Policy.** Every HTML page of ours loads scripts, styles, fonts and frames
from this site only, with no inline script or style at all (templates and static files keep it
so): a visitor's name or a purpose that got past the escaping still could not run a script or
send anything elsewhere. Images may also be ``data:`` and ``blob:`` (the photo preview, the
camera's snapshot). ``CONTENT_SECURITY_POLICY`` in settings; the API's Swagger UI and Redoc
pages (``api:docs``, ``api:redoc``: drf-spectacular's inline start-up script) and, with DEBUG
on, error pages (Django's technical pages) go without it.
Only HTML gets it: a policy on a PDF can stop the browser's own PDF viewer.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
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


# Third-party pages that need their inline start-up script (behind sign-in; module doc).
POLICY_EXEMPT_VIEWS = frozenset({"api:docs", "api:redoc"})


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        policy: str = settings.CONTENT_SECURITY_POLICY
        match = request.resolver_match
        if (
            policy
            and response.get("Content-Type", "").startswith("text/html")
            and not (match is not None and match.view_name in POLICY_EXEMPT_VIEWS)
            # Django's technical error pages (DEBUG only) are styled and scripted inline.
            and not (settings.DEBUG and response.status_code >= 400)
        ):
            response.headers.setdefault("Content-Security-Policy", policy)
        return response
