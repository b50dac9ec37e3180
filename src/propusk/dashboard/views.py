"""The security dashboard (a page and the live partial its script polls) and the evacuation
list (a printable page, CSV and PDF). Reception, security and administrators only; every
export is audited (who, which format, how many people - no names).

Acknowledging and resolving incidents are the passages app's views (POST, audited); the
dashboard's forms post there and its script refreshes the partial afterwards.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from propusk.audit.services import record
from propusk.dashboard import exports, selectors
from propusk.visits.models import Visit

# How often the page asks for the live partial (the script stops while the tab is hidden):
# a passage is on the page within 2 s of being processed (issue 10).
POLL_MILLISECONDS = 1500
# Every how many polls the script asks for the whole partial (the others are quick ones).
FULL_EVERY = 4


def _dashboard_user(request: HttpRequest) -> User:
    if not selectors.may_open_dashboard(request.user):
        raise PermissionDenied(_("Your account has no role that may open this page."))
    assert isinstance(request.user, User)  # noqa: S101 - a role implies a signed-in user
    return request.user


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = _dashboard_user(request)
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "board": selectors.dashboard(user),
            "poll_ms": POLL_MILLISECONDS,
            "full_every": FULL_EVERY,
        },
    )


@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """The dashboard's sections alone, for the page's script to swap in; ``?parts=quick``
    leaves out the slow-changing ones (the script asks for everything every
    ``FULL_EVERY``th time)."""
    user = _dashboard_user(request)
    full = request.GET.get("parts") != "quick"
    return render(request, "dashboard/_live.html", {"board": selectors.dashboard(user, full=full)})


@require_GET
def evacuation(request: HttpRequest) -> HttpResponse:
    _dashboard_user(request)
    return render(request, "dashboard/evacuation.html", {"roll": selectors.evacuation_list()})


def _export(request: HttpRequest, kind: str) -> HttpResponse:
    user = _dashboard_user(request)
    roll = selectors.evacuation_list()
    if kind == "csv":
        body, content_type = exports.evacuation_csv(roll), "text/csv; charset=utf-8"
    else:
        body, content_type = exports.evacuation_pdf(roll), "application/pdf"
    record(
        actor=user,
        action="dashboard.evacuation_exported",
        target=Visit,
        changes={"format": kind, "people": roll.count},
    )
    stamp = timezone.localtime(roll.taken_at).strftime("%Y%m%d-%H%M")
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="evacuation-{stamp}.{kind}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def evacuation_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@require_GET
def evacuation_pdf(request: HttpRequest) -> HttpResponse:
    return _export(request, "pdf")
